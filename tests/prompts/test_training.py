"""Training: the prompt learns, the base model does not change, best weights are kept."""

from __future__ import annotations

import itertools

import pytest
import torch

from softloop.prompts import ConfigError, Example, FrozenLM, SoftPrompt, TrainConfig, train_prompt
from softloop.prompts.training import lr_factor

TABLE = {"ab": "x1", "cd": "y2", "ef": "z3", "gh": "w4"}
EXAMPLES = [Example(k, v) for k, v in TABLE.items()]


def quick(**kwargs: object) -> TrainConfig:
    return TrainConfig(**{"progress": False, "batch_size": 4, **kwargs})  # type: ignore[arg-type]


@pytest.mark.slow
def test_trained_prompt_answers_a_memorised_lookup(llama: FrozenLM) -> None:
    torch.manual_seed(0)
    prompt = SoftPrompt.from_init(llama, 8, "vocab", template="{input}=")
    before = llama.generate(list(TABLE), prompt, max_new_tokens=4)
    report = train_prompt(
        llama, prompt, EXAMPLES, dev=EXAMPLES, config=quick(steps=80, lr=0.3, eval_every=40)
    )
    assert before != list(TABLE.values())
    # The template is applied at generation too: bare inputs get the trained answers.
    assert llama.generate(list(TABLE), prompt, max_new_tokens=4) == list(TABLE.values())
    assert report.train_losses[-1] < 0.2 < report.train_losses[0]
    assert report.best_dev is not None and report.best_dev < 0.2
    assert prompt.manifest.metrics["best_dev_loss"] == pytest.approx(report.best_dev)


def test_loss_decreases_and_base_is_bitwise_unchanged(lm: FrozenLM) -> None:
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    prompt = SoftPrompt.from_init(lm, 4, "random")
    report = train_prompt(lm, prompt, EXAMPLES, config=quick(steps=20, lr=0.1))
    assert report.steps == 20 and len(report.train_losses) == 20
    assert sum(report.train_losses[-3:]) < sum(report.train_losses[:3])
    after = lm.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [n for n, p in lm.model.named_parameters() if p.requires_grad] == []
    assert prompt.weight.requires_grad and report.seconds > 0


def test_training_is_seeded(llama: FrozenLM) -> None:
    def run(seed: int) -> torch.Tensor:
        prompt = SoftPrompt.from_init(llama, 4, "vocab")
        train_prompt(
            llama, prompt, EXAMPLES, config=quick(steps=5, lr=0.1, batch_size=2, seed=seed)
        )
        return prompt.weight.detach()

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))


def test_best_weights_are_restored_and_patience_stops_early(llama: FrozenLM) -> None:
    prompt = SoftPrompt.from_init(llama, 4, "vocab")
    start = prompt.weight.detach().clone()

    # A metric that prefers the initial prompt: training can only make it worse.
    def closeness(p: SoftPrompt) -> float:
        return -float((p.weight - start).norm())

    report = train_prompt(
        llama,
        prompt,
        EXAMPLES,
        metric=closeness,
        config=quick(steps=100, lr=0.1, eval_every=5, patience=2),
    )
    assert report.stopped_early and report.steps == 10
    assert report.best_step == 0 and report.best_dev == 0.0
    assert [s for s, _ in report.dev_history] == [0, 5, 10]
    assert torch.equal(prompt.weight.detach(), start)
    assert report.higher_is_better
    assert prompt.manifest.metrics["best_metric"] == 0.0


def test_schedule_warms_up_then_decays() -> None:
    cfg = TrainConfig(steps=100, warmup_steps=10, progress=False)
    factors = [lr_factor(s, cfg) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(1.0) and factors[-1] < 0.01
    assert all(a >= b for a, b in itertools.pairwise(factors[9:]))
    assert TrainConfig(steps=200, warmup_steps=0.25).n_warmup == 50


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("steps", 0, "steps=0 is invalid"),
        ("lr", -1.0, "lr=-1.0 is invalid: use a positive learning rate"),
        ("batch_size", 0, "batch_size=0"),
        ("warmup_steps", 500, "warmup_steps=500"),
        ("eval_every", 0, "eval_every=0"),
        ("patience", 0, "patience=0"),
        ("max_grad_norm", 0.0, "max_grad_norm=0.0"),
        ("decay", "step", "decay='step'"),
    ],
)
def test_config_errors_name_the_value_and_the_fix(field: str, value: object, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        TrainConfig(**{field: value})  # type: ignore[arg-type]


def test_empty_training_set_is_refused(llama: FrozenLM) -> None:
    prompt = SoftPrompt.from_init(llama, 2, "vocab")
    with pytest.raises(ConfigError, match="train is empty"):
        train_prompt(llama, prompt, [], config=quick())


def test_should_stop_cancels_between_steps(llama) -> None:
    from softloop.prompts import Example, SoftPrompt, TrainConfig, train_prompt

    prompt = SoftPrompt.from_init(llama, 4, init="vocab")
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    report = train_prompt(
        llama,
        prompt,
        [Example("a", "b")],
        config=TrainConfig(steps=50, progress=False),
        should_stop=stop,
    )
    assert report.cancelled and report.steps == 3
