"""Adding a task: its prompt, a critique prompt that knows the model's own mistakes, its check.

    train the task prompt (from the instruction, if any) ─→ measure it on dev beside the
    instruction as plain text ─→ the model's own answers on the task's inputs (greedy and one
    sampled), labelled by the task's check or the expected output ─→ train the critique prompt
    on its verdict marks for those answers, fit its threshold on the dev answers ─→ pick the
    confidence reduction that ranks the dev answers best ─→ register both prompts as active,
    write the task down (`agent.tasks`).

A critic has to catch the mistakes this model makes on this task, not random edits of right
answers, so it learns from the model's own answers, and is measured on answers to inputs it
never saw. Its figures (balanced accuracy, AUC, threshold) are recorded with its version: the
loop trusts it only if they clear its bar, and falls back on the task prompt's confidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from softloop.agent.refine.evaluate import CriticScores, critic_scores, example_pass_probabilities
from softloop.agent.setup import Setup
from softloop.agent.tasks import (
    TaskCheckSpec,
    TaskRegistry,
    TaskSpec,
    check_task_name,
    critique_name,
)
from softloop.critics import (
    CriticFormat,
    CritiqueRequest,
    default_marks,
    fit_confidence,
    fit_threshold,
    mark_loss,
    record_marks,
)
from softloop.critics.confidence import CONFIDENCE_KEY
from softloop.critics.task_checks import AnswerCheck, verdict
from softloop.prompts import Example, SoftPrompt, TrainConfig, train_prompt
from softloop.prompts.chat import default_template
from softloop.prompts.defaults import prompt_defaults
from softloop.prompts.errors import ConfigError
from softloop.prompts.evaluation import EvalReport, answer_budget, evaluate, greedy_answers, stop_of
from softloop.prompts.frozen_lm import FrozenLM
from softloop.prompts.manifest import PromptKind
from softloop.prompts.names import check_text

# How the critique prompt is shown a request: plain words an instruct model reads as a question.
CRITIQUE_LAYOUT = "Task: {task}\nInput: {input}\nAnswer: {answer}\nIs the answer right?"
CRITIQUE_INSTRUCTION = "Is the answer right? Reply Yes or No."
MAX_FAIL_WEIGHT = 5.0  # wrong answers weigh up to this much more where they are rare

Say = Callable[[str], None]


@dataclass
class TaskOptions:
    """How to add a task; None: the model's default (`prompts.defaults`)."""

    instruction: str | None = None
    label: str | None = None
    chat: bool = False
    check: TaskCheckSpec | None = None
    n_tokens: int | None = None
    steps: int | None = None
    critique_steps: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    seed: int = 0
    progress: bool = False
    # A prompt already trained for the task (`softloop train`): used as it is, not retrained.
    prompt: SoftPrompt | None = None


@dataclass
class TaskResult:
    spec: TaskSpec
    task_version: int
    critique_version: int
    eval: EvalReport | None
    critic: CriticScores | None
    critic_threshold: float
    confidence: dict[str, Any] = field(default_factory=dict)
    own_answers: int = 0
    own_wrong: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "task": self.spec.name,
            "task_prompt": f"{self.spec.name}@{self.task_version}",
            "critique_prompt": f"{self.spec.critique}@{self.critique_version}",
            "dev": self.eval.as_dict() if self.eval is not None else None,
            "critic": self.critic.model_dump() if self.critic is not None else None,
            "critic_threshold": self.critic_threshold,
            "confidence": self.confidence,
            "own_answers": self.own_answers,
            "own_wrong": self.own_wrong,
            "check": self.spec.check.kind if self.spec.check else None,
        }


def new_task_prompt(
    lm: FrozenLM,
    name: str,
    n_tokens: int,
    instruction: str | None = None,
    chat: bool = False,
    template: str | None = None,
    kind: PromptKind = PromptKind.TASK,
    seed: int = 0,
    system: str | None = None,
) -> SoftPrompt:
    """A fresh prompt with the defaults: from the instruction if any, a separating template."""
    if template is None and not chat:
        template = default_template(lm.tokenizer)
    return SoftPrompt.from_init(
        lm,
        n_tokens,
        "text" if instruction else "vocab",
        text=instruction,
        name=name,
        kind=kind,
        template=template or "{input}",
        seed=seed,
        chat=chat,
        system=system,
    )


def add_task(
    setup: Setup,
    name: str,
    train: Sequence[Example],
    dev: Sequence[Example] = (),
    options: TaskOptions | None = None,
    say: Say = lambda _: None,
) -> TaskResult:
    """Train, measure and register a task's prompts and write the task down; see the module."""
    opts = options or TaskOptions()
    lm = setup.lm
    check_task_name(name)
    if not train:
        raise ConfigError("no training examples; pass a non-empty --data file")
    for text in (opts.instruction, opts.label):
        if text is not None:
            check_text(text, "instruction")
    check: AnswerCheck | None = opts.check.load() if opts.check is not None else None
    base = prompt_defaults(lm)
    config = TrainConfig(
        steps=opts.steps or base.steps,
        lr=opts.lr or base.lr,
        batch_size=opts.batch_size or base.batch_size,
        seed=opts.seed,
        progress=opts.progress,
    )
    n_tokens = opts.n_tokens or base.n_tokens
    instruction = opts.instruction or (opts.prompt.instruction if opts.prompt else None)
    label = opts.label or instruction or name

    if opts.prompt is not None:
        prompt = opts.prompt
        if prompt.manifest.kind != PromptKind.TASK:
            raise ConfigError(f"prompt {prompt.name!r} is a {prompt.manifest.kind} prompt")
        prompt.manifest = prompt.manifest.model_copy(update={"name": name})
        if opts.chat != bool(prompt.manifest.extra.get("chat")):
            raise ConfigError(
                f"prompt {name!r} was trained {'with' if not opts.chat else 'without'} the chat "
                f"template; {'pass' if not opts.chat else 'drop'} --chat"
            )
        say(f"using the trained prompt as {name!r}")
    else:
        prompt = new_task_prompt(lm, name, n_tokens, opts.instruction, opts.chat, seed=opts.seed)
        say(f"training the task prompt {name!r}: {config.steps} steps on {len(train)} examples")
        train_prompt(lm, prompt, list(train), list(dev) or None, config)
    report = None
    if dev:
        report = evaluate(lm, prompt, dev, _gold_check(check), instruction)
        say(
            f"dev accuracy {report.accuracy:.3f} with the prompt, {report.without_prompt:.3f} "
            f"with the instruction as text (n={report.n})"
        )

    pass_mark, fail_mark = default_marks(lm.tokenizer)
    fmt = CriticFormat(
        input_format=CRITIQUE_LAYOUT,
        pass_mark=pass_mark,
        fail_mark=fail_mark,
        task_labels={name: label},
    )
    say("labelling the model's own answers for the critique prompt")
    budget = answer_budget(lm, [*train, *dev])
    own_train = own_answers(lm, prompt, train, budget, check, opts.seed)
    own_dev = own_answers(lm, prompt, dev, budget, check, opts.seed) if dev else []
    crit_train = [_critique_row(fmt, name, r) for r in own_train]
    crit_dev = [_critique_row(fmt, name, r) for r in own_dev]
    judged = own_dev or own_train
    n_wrong = sum(not r.correct for r in [*own_train, *own_dev])

    critique = new_task_prompt(
        lm,
        critique_name(name),
        n_tokens,
        CRITIQUE_INSTRUCTION,
        opts.chat,
        kind=PromptKind.CRITIQUE,
        seed=opts.seed,
    )
    critique.manifest.extra["task"] = name
    record_marks(critique, pass_mark, fail_mark, CRITIQUE_LAYOUT)
    right = sum(r.correct for r in own_train)
    fail_weight = min(MAX_FAIL_WEIGHT, max(1.0, right / max(1, len(own_train) - right)))
    critique_config = TrainConfig(
        steps=opts.critique_steps or config.steps,
        lr=config.lr,
        batch_size=config.batch_size,
        seed=opts.seed,
        progress=opts.progress,
    )
    say(
        f"training the critique prompt {critique.name!r}: {critique_config.steps} steps on "
        f"{len(crit_train)} answers ({len(own_train) - right} wrong)"
    )
    train_prompt(lm, critique, crit_train, None, critique_config, loss=mark_loss(fmt, fail_weight))
    eval_rows = crit_dev or crit_train
    probs = example_pass_probabilities(lm, critique, eval_rows, fmt)
    threshold = fit_threshold(probs, [fmt.is_pass(e.output) for e in eval_rows])
    scores = critic_scores(lm, critique, eval_rows, fmt, threshold)
    say(
        f"critic on {'dev' if crit_dev else 'training'} answers: balanced accuracy "
        f"{scores.balanced_accuracy:.3f}, AUC {scores.auc:.3f} at threshold {threshold:.3f}"
    )

    requests = [CritiqueRequest(task=name, input=r.input, answer=r.answer) for r in judged]
    choice = fit_confidence(lm, prompt, requests, [r.correct for r in judged])
    prompt.manifest.extra[CONFIDENCE_KEY] = choice.as_extra()

    task_metrics: dict[str, Any] = {}
    if report is not None:
        task_metrics = {"accuracy": report.accuracy, "without_prompt": report.without_prompt}
    task_row = setup.registry.register(
        prompt, status="active", n_examples=len(train), metrics=task_metrics
    )
    critique_row = setup.registry.register(
        critique,
        status="active",
        n_examples=len(crit_train),
        metrics={
            "critic_threshold": threshold,
            "critic_balanced_accuracy": scores.balanced_accuracy,
            "critic_auc": scores.auc,
        },
    )
    spec = TaskSpec(
        name=name,
        label=label,
        instruction=instruction,
        chat=opts.chat,
        check=opts.check,
        critique=critique.name,
        base_fingerprint=lm.fingerprint,
    )
    TaskRegistry(setup.registry.root.parent / "tasks").save(spec, dev, crit_dev)
    return TaskResult(
        spec=spec,
        task_version=task_row.version,
        critique_version=critique_row.version,
        eval=report,
        critic=scores,
        critic_threshold=threshold,
        confidence=choice.as_extra(),
        own_answers=len(own_train) + len(own_dev),
        own_wrong=n_wrong,
    )


@dataclass(frozen=True)
class OwnAnswer:
    input: str
    answer: str
    correct: bool


def own_answers(
    lm: FrozenLM,
    prompt: SoftPrompt,
    examples: Sequence[Example],
    max_new_tokens: int,
    check: AnswerCheck | None,
    seed: int = 0,
) -> list[OwnAnswer]:
    """The model's greedy answer and one sampled at T=1 (more often wrong) to each input,
    labelled by the check, or by the expected output; each distinct (input, answer) once."""
    inputs = [e.input for e in examples]
    stop = stop_of(examples)
    greedy = greedy_answers(lm, inputs, prompt, max_new_tokens, stop)
    sampled: list[str] = []
    for i in range(0, len(inputs), 32):
        chunk = inputs[i : i + 32]
        sampled += lm.generate(
            chunk, prompt, max_new_tokens=max_new_tokens, do_sample=True, seed=seed + i, stop=stop
        )
    seen: set[tuple[str, str]] = set()
    out = []
    for e, answer in [*zip(examples, greedy, strict=True), *zip(examples, sampled, strict=True)]:
        answer = answer.strip()
        if (e.input, answer) in seen:
            continue
        seen.add((e.input, answer))
        ok = verdict(check, e.input, answer)[0] if check else answer == e.output.strip()
        out.append(OwnAnswer(e.input, answer, ok))
    return out


def _critique_row(fmt: CriticFormat, task: str, r: OwnAnswer) -> Example:
    return Example(fmt.render_parts(task, r.input, r.answer), fmt.target(None, r.correct, ""))


def _gold_check(check: AnswerCheck | None) -> Callable[[str, str], bool] | None:
    if check is None:
        return None
    return lambda input, answer: verdict(check, input, answer.strip())[0]
