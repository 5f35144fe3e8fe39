"""The learned critic on a real tiny model: scores from mark probabilities, learnable."""

import math

import pytest

from softloop.critics import (
    CriticFormat,
    CritiqueRequest,
    SoftPromptCritic,
    auc,
    fit_threshold,
    mark_loss,
)
from softloop.critics.soft_prompt_critic import step_logprobs, target_marks
from softloop.prompts import Example, SoftPrompt, TrainConfig, train_prompt
from tests.prompts.models import make_lm

RIGHT = "ab"  # in these tests the right answer is always "ab"


@pytest.fixture(scope="module")
def lm():
    return make_lm("llama", seed=3)


def requests() -> list[CritiqueRequest]:
    return [
        CritiqueRequest(task="t", input=f"{i}", answer=a) for i in range(4) for a in ("ab", "ba")
    ]


def letters(task: str, input: str, answer: str) -> list[str]:
    """A step per letter of the answer."""
    return list(answer)


TRACES = CriticFormat(pass_mark="+", fail_mark="-", claims=letters)


def test_a_single_verdict_scores_pass_against_fail_at_one_position(lm) -> None:
    prompt = SoftPrompt.from_init(lm, 4, init="vocab", kind="critique", template="{input}?")
    critic = SoftPromptCritic(lm, prompt, threshold=0.5)
    reqs = requests()
    probs = critic.pass_probability(reqs)
    logp = lm.next_token_logprobs([f"t:{r.input}={r.answer}" for r in reqs], prompt)
    y, n = (lm.tokenizer.convert_tokens_to_ids(c) for c in "yn")
    expected = [1 / (1 + math.exp(row[n] - row[y])) for row in logp.tolist()]
    assert probs == pytest.approx(expected, abs=1e-5)
    for c, p in zip(critic.critique_batch(reqs), probs, strict=True):
        assert c.score == pytest.approx(p, abs=1e-6)
        assert c.passed == (p >= 0.5)


def test_a_trace_scores_each_mark_where_it_stands_and_multiplies_them(lm) -> None:
    prompt = SoftPrompt.from_init(lm, 4, init="vocab", kind="critique", template="{input}?")
    [marks] = step_logprobs(lm, prompt, ["t:0=ab"], ["a+ b+"], TRACES)
    assert len(marks) == 2
    plus, minus = (lm.tokenizer.convert_tokens_to_ids(c) for c in "+-")
    for k, before in enumerate(("a", "a+ b")):
        # The same prompt, with the trace so far moved into its template: the next token is
        # the k-th mark.
        shifted = SoftPrompt(
            prompt.weight, prompt.manifest.model_copy(update={"template": "{input}?" + before})
        )
        [row] = lm.next_token_logprobs(["t:0=ab"], shifted).tolist()
        assert marks[k] == pytest.approx(-math.log1p(math.exp(row[minus] - row[plus])), abs=1e-5)
    critic = SoftPromptCritic(lm, prompt, fmt=TRACES)
    [p] = critic.pass_probability([CritiqueRequest(task="t", input="0", answer="ab")])
    assert p == pytest.approx(math.exp(sum(marks)), abs=1e-6)


def test_a_trained_critique_prompt_marks_steps_and_names_the_failing_one(lm) -> None:
    prompt = SoftPrompt.from_init(lm, 8, init="vocab", kind="critique", template="{input}?")
    train = [
        Example(
            input=TRACES.render(r),
            output=TRACES.target(
                [(c, c == RIGHT[i]) for i, c in enumerate(r.answer)], r.answer == RIGHT, ""
            ),
        )
        for r in requests()
    ]
    assert {e.output for e in train} == {"a+ b+", "b- a-"}
    untrained = SoftPromptCritic(lm, prompt, fmt=TRACES).critique_batch(requests())
    train_prompt(lm, prompt, train, config=TrainConfig(steps=150, lr=0.1, progress=False))
    results = SoftPromptCritic(lm, prompt, fmt=TRACES).critique_batch(requests())
    assert [c.passed for c in results] == [r.answer == RIGHT for r in requests()]
    assert all(c.feedback in ("no a", "no b") for c in results if not c.passed)
    assert [c.passed for c in untrained] != [c.passed for c in results]


def test_a_single_verdict_critic_generates_its_hint(lm) -> None:
    prompt = SoftPrompt.from_init(lm, 8, init="vocab", kind="critique", template="{input}?")
    fmt = CriticFormat()
    train = [
        Example(input=fmt.render(r), output=fmt.target(None, r.answer == RIGHT, "swap"))
        for r in requests()
    ]
    train_prompt(lm, prompt, train, config=TrainConfig(steps=150, lr=0.1, progress=False))
    results = SoftPromptCritic(lm, prompt).critique_batch(requests())
    assert [c.passed for c in results] == [r.answer == RIGHT for r in requests()]
    assert all(c.feedback == "swap" for c in results if not c.passed)


def test_targets_and_passing_traces_of_both_formats() -> None:
    assert TRACES.target([("a", True), ("b", False)], False, "ignored") == "a+ b-"
    assert TRACES.target(None, False, "") == "-"  # no step known: one unnamed step
    assert TRACES.passing_of("a+ b- c-") == "a+ b+ c+"
    assert TRACES.passing_trace("t", "0", "ba") == "b+ a+"
    assert TRACES.is_pass("a+ b+") and not TRACES.is_pass("a+ b-")
    plain = CriticFormat()
    assert plain.target(None, False, "swap") == "no:swap" and plain.target(None, True, "") == "yes"
    assert plain.passing_of("no:swap") == "yes" and plain.passing_trace("t", "0", "ba") == "yes"
    assert plain.is_pass("yes") and not plain.is_pass("no:swap")


def test_threshold_is_validated(lm) -> None:
    prompt = SoftPrompt.from_init(lm, 2, init="random")
    with pytest.raises(ValueError, match="threshold"):
        SoftPromptCritic(lm, prompt, threshold=1.5)


def test_format_shows_the_task_by_the_label_the_model_knows() -> None:
    fmt = CriticFormat(task_labels={"path": "pth"})
    assert fmt.render_parts("path", "a d;ab bd", "abd") == "pth:a d;ab bd=abd"
    assert fmt.render_parts("sum", "3;12", "12") == "sum:3;12=12"


def test_the_fitted_threshold_separates_what_can_be_separated() -> None:
    probs = [0.9, 0.8, 0.7, 0.2, 0.1]
    right = [True, True, True, False, False]
    t = fit_threshold(probs, right)
    assert 0.2 < t < 0.7
    assert [p >= t for p in probs] == right
    assert fit_threshold([0.3, 0.4], [True, True]) == 0.5  # one class only: nothing to fit
    # Overlapping scores: the best balanced accuracy, not "fail everything".
    t = fit_threshold([0.9, 0.6, 0.55, 0.5, 0.1], [True, False, True, False, False])
    assert 0.1 < t <= 0.9


def test_auc_ranks_wrong_above_right_with_ties_counting_half() -> None:
    assert auc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert auc([0.1, 0.9], [True, False]) == 0.0
    assert auc([1.0, 1.0, 1.0], [True, False, False]) == 0.5
    assert math.isnan(auc([0.3, 0.4], [False, False]))


def test_a_critique_prompt_trained_on_its_marks_alone_separates_right_from_wrong(lm) -> None:
    prompt = SoftPrompt.from_init(lm, 8, init="vocab", kind="critique", template="{input}?")
    train = [
        Example(
            input=TRACES.render(r),
            output=TRACES.target(
                [(c, c == RIGHT[i]) for i, c in enumerate(r.answer)], r.answer == RIGHT, ""
            ),
        )
        for r in requests()
    ]
    loss = mark_loss(TRACES, fail_weight=2.0)
    before = float(loss(lm, prompt, train).detach())
    train_prompt(lm, prompt, train, config=TrainConfig(steps=80, lr=0.1, progress=False), loss=loss)
    assert float(loss(lm, prompt, train).detach()) < before / 4
    results = SoftPromptCritic(lm, prompt, fmt=TRACES).critique_batch(requests())
    assert [c.passed for c in results] == [r.answer == RIGHT for r in requests()]


def test_target_marks_read_each_step_of_a_trace() -> None:
    assert target_marks(TRACES, "a+ ab- b+") == [True, False, True]
    assert target_marks(CriticFormat(), "no:swap") == [False]
    assert target_marks(CriticFormat(), "yes") == [True]


def test_default_marks_are_single_tokens_capitalised_for_chat_models() -> None:
    from softloop.critics import default_marks

    class Words:
        """A word-level tokenizer: one token per known word, one per character otherwise."""

        def __init__(self, known: set[str], chat: bool) -> None:
            self.known, self.chat_template = known, "{{ x }}" if chat else None

        def __call__(self, text: str, add_special_tokens: bool = False) -> dict:
            ids = [hash(text)] if text in self.known else [ord(c) for c in text]
            return {"input_ids": ids}

    both = {"yes", "no", "Yes", "No"}
    assert default_marks(Words(both, chat=True)) == ("Yes", "No")
    assert default_marks(Words(both, chat=False)) == ("yes", "no")
    assert default_marks(Words({"yes", "no"}, chat=True)) == ("yes", "no")
    assert default_marks(Words(set(), chat=True)) == ("yes", "no")  # first tokens, as before


def test_the_verdict_words_travel_with_the_critique_prompt(lm, tmp_path) -> None:
    from softloop.critics import format_for, record_marks, recorded_marks

    prompt = SoftPrompt.from_init(lm, 4, init="vocab", kind="critique", template="{input}?")
    assert recorded_marks(prompt) is None
    assert format_for(prompt) == CriticFormat()
    record_marks(prompt, "+", "-")
    loaded = SoftPrompt.load(prompt.save(tmp_path / "judge"), lm)
    assert recorded_marks(loaded) == ("+", "-")
    fmt = format_for(loaded, CriticFormat(task_labels={"t": "x"}))
    assert (fmt.pass_mark, fmt.fail_mark, dict(fmt.task_labels)) == ("+", "-", {"t": "x"})
    # The critic reads them back: it scores "+" against "-", not the format's yes/no.
    critic = SoftPromptCritic(lm, loaded, fmt=CriticFormat())
    assert (critic.fmt.pass_mark, critic.fmt.fail_mark) == ("+", "-")
    reqs = requests()
    logp = lm.next_token_logprobs([f"t:{r.input}={r.answer}" for r in reqs], loaded)
    plus, minus = (lm.tokenizer.convert_tokens_to_ids(c) for c in "+-")
    expected = [1 / (1 + math.exp(row[minus] - row[plus])) for row in logp.tolist()]
    assert critic.pass_probability(reqs) == pytest.approx(expected, abs=1e-5)
