"""How the refiner turns stored feedback into candidate prompts and decides on promotion."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RefineConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min_new_feedback: int = Field(
        default=20,
        ge=1,
        description="Usable rows newer than the active version needed before retraining.",
    )
    # Answers that only the critic vouched for. 0 excludes them; 1 trusts them like a label.
    # "auto" measures the critic first: on the runs whose truth is known (labels, stored oracle
    # truth), the share of answers it passed that were right. Its passes are used, weighted by
    # that precision, only when it is at least `min_critic_precision` on at least
    # `min_trust_evidence` known answers; otherwise they are left out. A fixed trust let a critic
    # that passes most wrong answers teach them to the task prompt (a flat demo curve).
    critic_trust: float | Literal["auto"] = "auto"
    min_critic_precision: float = Field(default=0.9, ge=0.0, le=1.0)
    min_trust_evidence: int = Field(default=20, ge=1)
    # Use the oracle truth the loop stored on attempts (where the task has an exact checker).
    use_attempt_oracle: bool = True
    margin: float = Field(
        default=0.01, ge=0.0, description="Promote only if candidate ≥ active + margin."
    )
    # A critique prompt that fails right answers sends them to revision, which on a small model
    # can break them. A candidate critic is promoted only if the share of right answers it
    # fails stays at most this, or at most the active critic's.
    max_false_alarm: float = Field(default=0.15, ge=0.0, le=1.0)
    holdout_fraction: float = Field(
        default=0.2,
        ge=0.0,
        lt=1.0,
        description="Share of labelled runs kept out of training to evaluate on (by run id).",
    )
    wrong_weight: float = Field(
        default=3.0, gt=0, description="Weight of wrong answers in the critic's training data."
    )
    missed_weight: float = Field(
        default=2.0, gt=0, description="Extra factor for rows the critic judged wrongly."
    )
    max_examples: int = Field(default=4000, ge=1, description="Newest rows used for training.")
    steps: int = Field(default=150, ge=1)
    lr: float = Field(default=1e-2, gt=0)
    batch_size: int = Field(default=32, ge=1)
    kinds: tuple[str, ...] = Field(
        default=("task", "critique"), description="Which prompt kinds are refined."
    )
    lease_ttl_s: float = Field(
        default=900.0, gt=0, description="A crashed refiner's lease expires after this."
    )
    max_new_tokens: int = Field(default=32, ge=1, description="For evaluating task prompts.")
    seed: int = 0
