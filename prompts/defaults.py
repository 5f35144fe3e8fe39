"""What a new task prompt gets when its maker says nothing: sizes, rates and a layout.

The defaults aim at the common small task (a short answer to a short input, a few dozen to a
few hundred examples) on whatever model is given:

- learning rate 0.03: prompts take far larger rates than weights, and at 0.01 a few hundred
  steps left simple mappings half learnt on tiny models (README, "Your own task");
- started from the instruction when one is given, so training starts where the instruction
  already is and is kept only where it improves on it (the best dev checkpoint);
- a template that separates input and answer (`prompts.chat.default_template`), or the model's
  own chat template;
- fewer, smaller steps on larger models: a step costs about the model's size, and a model that
  already follows instructions has less to learn. A tiny model gets the classic 300 steps of
  16 examples.
"""

from __future__ import annotations

from dataclasses import dataclass

from softloop.prompts.frozen_lm import FrozenLM

LR = 0.03
TINY_PARAMS = 20_000_000  # below this a step costs milliseconds: train longer and wider


@dataclass(frozen=True)
class PromptDefaults:
    n_tokens: int
    steps: int
    batch_size: int
    lr: float = LR


def prompt_defaults(lm: FrozenLM) -> PromptDefaults:
    """Defaults scaled to the model: its size decides steps, batch and prompt length."""
    params = sum(p.numel() for p in lm.model.parameters())
    if params < TINY_PARAMS:
        return PromptDefaults(n_tokens=8, steps=300, batch_size=16)
    return PromptDefaults(n_tokens=16, steps=100, batch_size=8)
