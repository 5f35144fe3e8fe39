"""The learned critic on a real tiny model: scores from verdict probabilities, learnable."""

import pytest
import torch

from softloop.critics import CriticFormat, CritiqueRequest, SoftPromptCritic
from softloop.prompts import Example, SoftPrompt, TrainConfig, train_prompt
from tests.prompts.conftest import make_lm


@pytest.fixture(scope="module")
def lm():
    return make_lm("llama", seed=3)


def requests() -> list[CritiqueRequest]:
    return [
        CritiqueRequest(task="t", input=f"{i}", answer=a) for i in range(4) for a in ("ab", "ba")
    ]


def test_score_is_normalised_verdict_probability(lm) -> None:
    prompt = SoftPrompt.from_init(lm, 4, init="vocab", kind="critique", template="{input}?")
    critic = SoftPromptCritic(lm, prompt, threshold=0.5)
    reqs = requests()
    probs = critic.pass_probability(reqs)
    texts = [f"t:{r.input}={r.answer}" for r in reqs]
    yes = lm.score(texts, ["yes"] * len(reqs), prompt)
    no = lm.score(texts, ["no"] * len(reqs), prompt)
    expected = torch.sigmoid(yes - no)
    assert probs == pytest.approx(expected.tolist(), abs=1e-5)
    for c, p in zip(critic.critique_batch(reqs), probs, strict=True):
        assert c.score == pytest.approx(p, abs=1e-6)
        assert c.passed == (p >= 0.5)


def test_trained_critique_prompt_separates_right_from_wrong(lm) -> None:
    # "Right" answers are "ab", wrong ones "ba"; the critic must learn to tell them apart and to
    # explain a failure in the `no:<hint>` form the revise step reads.
    prompt = SoftPrompt.from_init(lm, 8, init="vocab", kind="critique", template="{input}?")
    fmt = CriticFormat()
    train = [
        Example(input=fmt.render(r), output="yes" if r.answer == "ab" else "no:swap")
        for r in requests()
    ]
    untrained = SoftPromptCritic(lm, prompt).critique_batch(requests())
    train_prompt(lm, prompt, train, config=TrainConfig(steps=150, lr=0.1, progress=False))
    results = SoftPromptCritic(lm, prompt).critique_batch(requests())
    assert [c.passed for c in results] == [r.answer == "ab" for r in requests()]
    assert all(c.feedback == "swap" for c in results if not c.passed)
    assert [c.passed for c in untrained] != [c.passed for c in results]


def test_threshold_is_validated(lm) -> None:
    prompt = SoftPrompt.from_init(lm, 2, init="random")
    with pytest.raises(ValueError, match="threshold"):
        SoftPromptCritic(lm, prompt, threshold=1.5)


def test_format_shows_the_task_by_the_label_the_model_knows() -> None:
    fmt = CriticFormat(task_labels={"reverse": "rev"})
    assert fmt.render_parts("reverse", "abc", "cba") == "rev:abc=cba"
    assert fmt.render_parts("sort", "ba", "ab") == "sort:ba=ab"
