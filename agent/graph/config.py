"""Run-time settings of the loop, validated once when the graph is built."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class LoopConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_rounds: int = Field(
        default=3, ge=1, le=50, description="Attempts per request, the first one included."
    )
    # A single greedy rewrite tends to repeat the model's own mistake; the gain comes from
    # exploring several candidates and letting the critic pick.
    revise_samples: int = Field(
        default=4, ge=0, le=64, description="Sampled revise candidates besides the greedy one."
    )
    resolve_samples: int = Field(
        default=2,
        ge=0,
        le=64,
        description="Fresh samples from the task prompt added to the revise candidates.",
    )
    # The task prompt's confidence in each token of the answer (critics.ConfidenceCritic): an
    # answer fails when its least likely token is below the threshold. It judges where the
    # critique prompt is left out ("fallback"), before it ("always"), or not at all ("never").
    # A critique prompt that checks the answer's steps catches mistakes the solver was sure of,
    # and confidence in front of it would send right answers it doubted to revision.
    confidence: Literal["fallback", "always", "never"] = Field(
        default="fallback", description="When the task prompt's confidence judges."
    )
    confidence_threshold: float | None = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="Least-token probability under the task prompt at which an answer passes.",
    )
    # The critique prompt judges only if it has shown it can: a
    # critic at chance fails right answers at random, and each one it fails goes to revision,
    # where a small model breaks more than it fixes. Its balanced accuracy is read from the
    # version's recorded metrics (`bench.train_prompts` and the refiner record it); a version
    # with no recorded figure is used as given. None: always use it.
    min_critique_balanced_acc: float | None = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="Recorded balanced accuracy a critique prompt needs to judge in the loop.",
    )
    # When no attempt passes a learned critic, its scores cannot pick a fix (a corrected token
    # was the model's second choice, so its confidence stays low). The loop then keeps the
    # first attempt unless another is more likely by this many nats under the task prompt and
    # the revise prompt together. Chosen on the reference world's dev split (README, "Running
    # the loop"; `python -m softloop.bench.loop --split dev --switch-margin M`); None: return
    # the best-scored attempt, as with a critic you pass in.
    switch_margin: float | None = Field(
        default=6.0,
        ge=0.0,
        description="Log-likelihood gain (nats) needed to return a revision that did not pass.",
    )
    # Where confidence and the critique prompt judge first attempts together, the critique
    # prompt alone judges revisions if its recorded AUC on the task's dev answers reaches this
    # (chosen on the reference world's dev split: a judge below it picked revisions that broke
    # about as many right answers as they fixed). None: revisions are judged like first attempts.
    min_verifier_auc: float | None = Field(
        default=0.9,
        ge=0.0,
        le=1.0,
        description="Recorded critique AUC on a task at which it alone judges its revisions.",
    )
    temperature: float = Field(default=0.8, gt=0.0, le=5.0, description="For sampled candidates.")
    max_new_tokens: int = Field(default=32, ge=1, le=4096)
    # How a revise request is shown to the model; the revise prompt's template adds the `>`.
    revise_format: str = "{task}:{input}={answer}!{feedback}"
    # Task name → the word the model knows it by, in the critique and revise formats (the
    # reference model reads `pth` for `path`). Names not listed are shown as they are.
    task_labels: dict[str, str] = Field(default_factory=dict)
    seed: int = Field(default=0, description="Sampling is seeded per run and round from this.")
    model_retries: int = Field(
        default=3, ge=1, le=10, description="Tries of a model call on a transient error."
    )

    @model_validator(mode="after")
    def _check_format(self) -> LoopConfig:
        try:
            self.revise_format.format(task="t", input="i", answer="a", feedback="f")
        except (KeyError, IndexError) as err:
            raise ValueError(
                f"revise_format {self.revise_format!r} may use only {{task}}, {{input}}, "
                f"{{answer}} and {{feedback}}"
            ) from err
        return self

    def with_confidence(self, threshold: float) -> LoopConfig:
        """The task prompt's confidence judging before the critique prompt at `threshold`; 0
        leaves confidence out entirely (the critique prompt judges alone)."""
        if threshold == 0:
            return self.model_copy(update={"confidence": "never"})
        return self.model_copy(update={"confidence": "always", "confidence_threshold": threshold})

    @property
    def recursion_limit(self) -> int:
        # generate, then critique + revise per round, then finish, plus slack.
        return 2 * self.max_rounds + 6
