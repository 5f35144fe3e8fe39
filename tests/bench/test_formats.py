"""The text formats the base model was pre-trained on are exactly what the docs say."""

from softloop.bench import formats


def test_formats_are_exact():
    assert formats.solve_text("rev", "abc") == "rev:abc="
    assert formats.judge_text("rev", "abc", "cba") == "chk rev:abc=cba?"
    assert formats.revise_text("rev", "abc", "cab", "at 1") == "fix rev:abc=cab!at 1>"
    assert formats.verdict(True) == "yes"
    assert formats.verdict(False, "too short") == "no:too short"


def test_soft_prompt_templates_replace_only_the_instruction_words():
    case = formats.case_text("rev", "abc", "cba")
    assert formats.CRITIQUE_INSTRUCTION + formats.CRITIQUE_TEMPLATE.format(input=case) == (
        formats.judge_text("rev", "abc", "cba")
    )
    fix = formats.revise_case_text("rev", "abc", "cab", "at 1")
    assert formats.REVISE_INSTRUCTION + formats.REVISE_TEMPLATE.format(input=fix) == (
        formats.revise_text("rev", "abc", "cab", "at 1")
    )
    assert "rev:" + formats.TASK_TEMPLATE.format(input="abc") == formats.solve_text("rev", "abc")


def test_verdicts_parse():
    assert formats.parse_verdict("yes") == (True, "")
    assert formats.parse_verdict("no:at 3") == (False, "at 3")
    assert formats.parse_verdict("garbage") == (False, "")
    assert formats.YES.startswith(formats.YES_TOKEN) and formats.NO.startswith(formats.NO_TOKEN)
