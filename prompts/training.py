"""Training a soft prompt: AdamW on the prompt alone, warmup + decay, early stopping.

The base model never changes: its parameters have `requires_grad=False` and the optimiser only
ever sees `prompt.weight`. Training keeps the best prompt seen at any evaluation (including the
initial one) and restores it at the end, because on small models further steps can drift below
where a good initialisation started.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from tqdm.auto import tqdm

from softloop.prompts.batch_order import BatchOrder
from softloop.prompts.data import Example
from softloop.prompts.errors import ConfigError
from softloop.prompts.frozen_lm import FrozenLM
from softloop.prompts.soft_prompt import SoftPrompt


@dataclass
class TrainConfig:
    """How to train one prompt. Defaults suit a handful of tokens on a small model."""

    steps: int = 300  # a few hundred steps fit a memorisable mapping on a tiny model
    lr: float = 1e-2  # prompts tolerate far higher rates than weights; 1e-2 is the safe end
    batch_size: int = 16
    # < 1: a fraction of `steps`; >= 1: a number of steps. Warmup stops the first, noisy
    # gradients from throwing a good (text) initialisation far away.
    warmup_steps: float = 0.1
    decay: Literal["cosine", "linear", "constant"] = "cosine"
    weight_decay: float = 0.0  # decay pulls toward 0, which is not a neutral prompt; off
    max_grad_norm: float | None = 1.0  # None disables clipping
    eval_every: int = 25
    patience: int | None = None  # evaluations without improvement before stopping early
    seed: int = 0
    progress: bool = True  # a tqdm bar on stderr
    # Batches of similar length waste almost no compute on padding; it changes which examples
    # share a step (each is still seen once per epoch), so it is a choice, not a default.
    bucket_by_length: bool = False
    bucket_pool: int = 16  # batches' worth of examples sorted by length together
    # bfloat16 autocast of the forward and backward passes, for hardware with fast bf16 matrix
    # units; the prompt and the optimiser stay fp32. Rounded activations move the losses and
    # the trained prompt a little away from fp32's, so it is off unless asked for.
    bf16: bool = False

    def __post_init__(self) -> None:
        def bad(name: str, rule: str) -> ConfigError:
            return ConfigError(f"{name}={getattr(self, name)!r} is invalid: {rule}")

        if self.steps < 1:
            raise bad("steps", "train for at least 1 step")
        if not self.lr > 0 or not math.isfinite(self.lr):
            raise bad("lr", "use a positive learning rate such as 1e-2")
        if self.batch_size < 1:
            raise bad("batch_size", "use at least 1 example per step")
        if self.warmup_steps < 0 or (self.warmup_steps >= 1 and self.warmup_steps > self.steps):
            raise bad("warmup_steps", f"use a fraction in [0, 1) or a count <= steps={self.steps}")
        if self.decay not in ("cosine", "linear", "constant"):
            raise bad("decay", "use 'cosine', 'linear' or 'constant'")
        if self.weight_decay < 0:
            raise bad("weight_decay", "use 0 or a positive number")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise bad("max_grad_norm", "use a positive norm, or None to disable clipping")
        if self.eval_every < 1:
            raise bad("eval_every", "evaluate every 1 or more steps")
        if self.patience is not None and self.patience < 1:
            raise bad("patience", "use at least 1 evaluation, or None to never stop early")
        if self.bucket_pool < 1:
            raise bad("bucket_pool", "sort at least 1 batch's worth of examples at a time")

    @property
    def n_warmup(self) -> int:
        w = self.warmup_steps
        return round(w * self.steps) if w < 1 else int(w)


@dataclass
class TrainReport:
    """What happened; `best_dev` is a dev loss, or the metric when one was given."""

    steps: int
    train_losses: list[float]
    dev_history: list[tuple[int, float]] = field(default_factory=list)  # (step, value)
    best_step: int = 0
    best_dev: float | None = None
    seconds: float = 0.0
    higher_is_better: bool = False
    stopped_early: bool = False
    cancelled: bool = False  # `should_stop` said stop before the last step


def lr_factor(step: int, config: TrainConfig) -> float:
    """Multiplier on `lr` for optimiser step `step` (0-based): linear warmup, then decay."""
    warm = config.n_warmup
    if step < warm:
        return (step + 1) / warm
    if config.decay == "constant":
        return 1.0
    progress = (step - warm) / max(1, config.steps - warm)
    if config.decay == "linear":
        return max(0.0, 1.0 - progress)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


# (model, prompt, batch) -> the weighted mean loss of the batch, differentiable in the prompt.
LossFn = Callable[[FrozenLM, SoftPrompt, list[Example]], torch.Tensor]


def text_loss(lm: FrozenLM, prompt: SoftPrompt, batch: list[Example]) -> torch.Tensor:
    """The default: NLL of each example's output text (EOS included), weighted."""
    return lm.loss(
        [e.input for e in batch], [e.output for e in batch], prompt, [e.weight for e in batch]
    )


def dev_loss(
    lm: FrozenLM,
    prompt: SoftPrompt,
    dev: list[Example],
    batch_size: int,
    loss: LossFn = text_loss,
) -> float:
    """Weighted mean loss over `dev`, in batches, without grad."""
    total, weight = 0.0, 0.0
    with torch.no_grad():
        for start in range(0, len(dev), batch_size):
            chunk = dev[start : start + batch_size]
            w = sum(e.weight for e in chunk)
            if w <= 0:
                continue
            value = loss(lm, prompt, chunk)
            total += float(value) * w
            weight += w
    return total / weight if weight else float("nan")


def train_prompt(
    lm: FrozenLM,
    prompt: SoftPrompt,
    train: list[Example],
    dev: list[Example] | None = None,
    config: TrainConfig | None = None,
    metric: Callable[[SoftPrompt], float] | None = None,
    should_stop: Callable[[], bool] | None = None,
    loss: LossFn = text_loss,
) -> TrainReport:
    """Fit `prompt` to `train` in place; returns the report and leaves the best weights loaded.

    `should_stop` is asked before every step; when it answers True training ends there and the
    report says `cancelled` (a worker shutting down need not wait for the last step). `loss`
    replaces the output text's NLL where a prompt is judged by something else (a critic by its
    verdict marks: `softloop.critics.mark_loss`).
    """
    config = config or TrainConfig()
    if not train:
        raise ConfigError("train is empty; pass at least one Example")
    if prompt.hidden_size != lm.hidden_size:
        raise ConfigError(
            f"prompt {prompt.name!r} has hidden size {prompt.hidden_size}, model "
            f"{lm.model_id} has {lm.hidden_size}; create the prompt from this model"
        )
    check_examples(lm, prompt, train, "training")
    if dev:
        check_examples(lm, prompt, dev, "dev")
    started = time.perf_counter()
    prompt.to(lm.device)
    prompt.weight.requires_grad_(True)
    gen = torch.Generator().manual_seed(config.seed)
    optimiser = torch.optim.AdamW([prompt.weight], lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: lr_factor(s, config))

    higher = metric is not None
    evaluate: Callable[[], float] | None = None
    if metric is not None:

        def evaluate() -> float:
            with torch.no_grad():
                return float(metric(prompt))
    elif dev:

        def evaluate() -> float:
            return dev_loss(lm, prompt, dev, config.batch_size, loss)

    report = TrainReport(steps=0, train_losses=[], higher_is_better=higher)
    best_weight = prompt.weight.detach().clone()
    stale = 0

    def checkpoint(step: int) -> bool:
        """Evaluate, keep the best weights; True when patience has run out."""
        nonlocal best_weight, stale
        assert evaluate is not None
        value = evaluate()
        report.dev_history.append((step, value))
        improved = report.best_dev is None or (
            value > report.best_dev if higher else value < report.best_dev
        )
        if improved and math.isfinite(value):
            report.best_dev, report.best_step = value, step
            best_weight = prompt.weight.detach().clone()
            stale = 0
        else:
            stale += 1
        return config.patience is not None and stale >= config.patience

    if evaluate is not None:
        checkpoint(0)
    lengths = _lengths(lm, prompt, train) if config.bucket_by_length else None
    order = BatchOrder(len(train), config.batch_size, gen, lengths, config.bucket_pool)
    autocast = torch.autocast(lm.device.type, dtype=torch.bfloat16, enabled=config.bf16)
    bar = tqdm(
        total=config.steps, desc=f"train {prompt.name}", disable=not config.progress, leave=False
    )
    try:
        for step in range(1, config.steps + 1):
            if should_stop is not None and should_stop():
                report.cancelled = True
                break
            batch = [train[i] for i in order.next()]
            with autocast:
                value = loss(lm, prompt, batch)
            optimiser.zero_grad(set_to_none=True)
            value.backward()
            if config.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_([prompt.weight], config.max_grad_norm)
            optimiser.step()
            schedule.step()
            report.train_losses.append(float(value.detach()))
            report.steps = step
            bar.update(1)
            bar.set_postfix(loss=f"{report.train_losses[-1]:.4f}")
            at_eval = step % config.eval_every == 0 or step == config.steps
            if evaluate is not None and at_eval and checkpoint(step):
                report.stopped_early = True
                break
    finally:
        bar.close()

    if evaluate is not None:
        with torch.no_grad():
            prompt.weight.copy_(best_weight)
    else:
        report.best_step = report.steps
    if not torch.isfinite(prompt.weight).all():
        last = report.train_losses[-1] if report.train_losses else float("nan")
        raise ConfigError(
            f"training {prompt.name!r} diverged (last loss {last}); the prompt holds NaN or "
            "infinite values and was not kept, so lower the learning rate and train again"
        )
    report.seconds = time.perf_counter() - started
    _record_metrics(prompt, report)
    return report


def check_examples(lm: FrozenLM, prompt: SoftPrompt, examples: list[Example], what: str) -> None:
    """Refuse, before any model work, an example with a bad weight or too long for the model.

    Each example is tokenised once, as training will lay it out (prompt, template, answer).
    """
    for number, example in enumerate(examples, start=1):
        weight = example.weight
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ConfigError(f"{what} example {number} has weight {weight!r}; use a number")
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(
                f"{what} example {number} has weight {weight}; use a finite non-negative number"
            )
        [row] = lm.rows([example.input], prompt, [example.output], check_length=False)
        lm.check_fits(len(row), f"{what} example {number}", with_target=True)


def _lengths(lm: FrozenLM, prompt: SoftPrompt, examples: list[Example]) -> list[int]:
    """Positions each example takes in a batch (prompt, template, answer and EOS)."""
    rows = lm.rows([e.input for e in examples], prompt, [e.output for e in examples])
    return [len(r) for r in rows]


def _record_metrics(prompt: SoftPrompt, report: TrainReport) -> None:
    metrics = prompt.manifest.metrics
    if report.train_losses:
        metrics["train_loss"] = report.train_losses[-1]
    if report.best_dev is not None:
        metrics["best_metric" if report.higher_is_better else "best_dev_loss"] = report.best_dev
    metrics["steps"] = float(report.steps)
    metrics["best_step"] = float(report.best_step)
