"""The text formats the base model was pre-trained on are exactly what the docs say."""

from softloop.bench import formats
from softloop.bench.steps import Step


def test_formats_are_exact():
    assert formats.solve_text("pth", "a d;ab bd") == "pth:a d;ab bd="
    assert formats.judge_text("pth", "a d;ab bd", "abd") == "chk pth:a d;ab bd=abd?"
    assert formats.revise_text("pth", "a d;ab bd", "acd", "no ac") == "fix pth:a d;ab bd=acd!no ac>"


def test_a_check_trace_marks_every_step_and_the_passing_trace_marks_them_all_pass():
    steps = [Step("a", True), Step("ac", False), Step("cd", False), Step("d", True)]
    assert formats.check_trace(steps) == "a+ ac- cd- d+"
    assert formats.passing_trace([s.claim for s in steps]) == "a+ ac+ cd+ d+"


def test_soft_prompt_templates_replace_only_the_instruction_words():
    case = formats.case_text("pth", "a d;ab bd", "abd")
    assert formats.CRITIQUE_INSTRUCTION + formats.CRITIQUE_TEMPLATE.format(input=case) == (
        formats.judge_text("pth", "a d;ab bd", "abd")
    )
    fix = formats.revise_case_text("pth", "a d;ab bd", "acd", "no ac")
    assert formats.REVISE_INSTRUCTION + formats.REVISE_TEMPLATE.format(input=fix) == (
        formats.revise_text("pth", "a d;ab bd", "acd", "no ac")
    )
    assert "pth:" + formats.TASK_TEMPLATE.format(input="ad") == formats.solve_text("pth", "ad")
