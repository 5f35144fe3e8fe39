"""The confidence critic on a real tiny model: a prompt trained to answer `7` is sure of `7`."""

import math

import pytest

from softloop.critics import ConfidenceCritic, CritiqueRequest, Doubt, position_hint
from softloop.prompts import FrozenLM
from tests.agent.graph.scripted import constant_prompt
from tests.prompts.models import make_lm


@pytest.fixture(scope="module")
def lm() -> FrozenLM:
    return make_lm("llama", seed=5)


@pytest.fixture(scope="module")
def critic(lm: FrozenLM) -> ConfidenceCritic:
    return ConfidenceCritic(lm, constant_prompt(lm, "7", "const"), threshold=0.6)


def ask(answer: str, input: str = "12") -> CritiqueRequest:
    return CritiqueRequest(task="t", input=input, answer=answer)


def test_the_answer_the_prompt_is_sure_of_passes_with_its_least_step_probability(critic) -> None:
    [c] = critic.critique_batch([ask("7")])
    [probs] = critic.step_probabilities([ask("7")])
    assert len(probs) == 2  # "7", then the end of the answer
    assert c.passed and c.feedback == ""
    assert c.score == pytest.approx(min(probs)) and c.score >= 0.6


def test_step_probabilities_are_the_models_token_probabilities(lm, critic) -> None:
    picked, mask = lm.token_logprobs(["12"], ["7"], critic.prompt)
    expected = [math.exp(x) for x in picked[0][mask[0]].tolist()]
    assert critic.step_probabilities([ask("7")])[0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    ("answer", "feedback"),
    [("8", "at 1"), ("77", "too long"), ("", "too short")],
)
def test_a_doubtful_answer_fails_and_the_feedback_says_where(critic, answer, feedback) -> None:
    [c] = critic.critique_batch([ask(answer)])
    assert not c.passed and c.score < 0.6
    assert c.feedback == feedback
    assert c.critic.startswith("confidence:const@")


def test_rows_are_judged_independently_in_one_batch(critic) -> None:
    batch = critic.critique_batch([ask("7", "9"), ask("8", "345"), ask("7", "cc")])
    assert [c.passed for c in batch] == [True, False, True]


def test_a_custom_hint_gets_the_task_and_the_doubt(lm, critic) -> None:
    seen: list[tuple[str, Doubt]] = []

    def hint(task: str, doubt: Doubt) -> str:
        seen.append((task, doubt))
        return "custom"

    custom = ConfidenceCritic(lm, critic.prompt, hint=hint)
    [c] = custom.critique_batch([ask("78")])
    assert c.feedback == "custom"
    [(task, doubt)] = seen
    # "7" is sure; the model would have ended the answer where "8" stands.
    assert task == "t" and doubt.offset == 1 and doubt.token == "8" and doubt.preferred == ""
    assert doubt.probability < 0.6


def test_position_hint_words() -> None:
    assert position_hint("t", Doubt(offset=2, token="x", preferred="y", probability=0.1)) == "at 3"
    assert position_hint("t", Doubt(offset=3, token="", preferred="y", probability=0.1)) == (
        "too short"
    )
    assert position_hint("t", Doubt(offset=1, token="x", preferred="", probability=0.1)) == (
        "too long"
    )


def test_threshold_is_validated(lm, critic) -> None:
    with pytest.raises(ValueError, match="threshold"):
        ConfidenceCritic(lm, critic.prompt, threshold=-0.1)


def test_the_mean_reduction_scores_the_geometric_mean_of_the_steps(lm, critic) -> None:
    mean = ConfidenceCritic(lm, critic.prompt, threshold=0.6, reduce="mean")
    [probs] = critic.step_probabilities([ask("77")])
    [c] = mean.critique_batch([ask("77")])
    geometric = math.exp(sum(math.log(p) for p in probs) / len(probs))
    assert c.score == pytest.approx(geometric)
    assert mean.scores([ask("77")]) == [pytest.approx(geometric)]
    assert c.critic.startswith("confidence-mean:const@")
    if not c.passed:
        assert c.feedback  # the weakest step is named even when none is below the bar alone
    with pytest.raises(ValueError, match="reduce"):
        ConfidenceCritic(lm, critic.prompt, reduce="max")  # type: ignore[arg-type]


def test_fit_confidence_picks_the_reduction_that_ranks_better_and_records_it(lm, critic) -> None:
    from softloop.critics import confidence_choice, fit_confidence

    requests = [ask("7"), ask("8"), ask("77"), ask(""), ask("7", "3"), ask("1", "3")]
    correct = [True, False, False, False, True, False]
    choice = fit_confidence(lm, critic.prompt, requests, correct)
    assert choice.reduce in ("min", "mean") and 0.0 <= choice.threshold <= 1.0
    assert choice.auc[choice.reduce] >= max(v for v in choice.auc.values() if v == v)
    assert confidence_choice(critic.prompt) is None
    critic.prompt.manifest.extra["confidence"] = choice.as_extra()
    try:
        assert confidence_choice(critic.prompt) == (choice.reduce, choice.threshold)
    finally:
        del critic.prompt.manifest.extra["confidence"]
