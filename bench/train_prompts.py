"""Train the shipped default soft prompts: `python -m softloop.bench.train_prompts [--only ...]`.

On the reference base model, with `softloop.prompts.train_prompt`:

- one task prompt per task (template `{input}=`), trained on right answers from the train split
  around the default difficulty and selected by greedy dev accuracy (the oracle's) at the
  default difficulty. Three initialisations compete — the embeddings of the text instruction
  itself (`pth:`), real vocabulary rows, random noise at the embedding scale;
- the critique prompt (template `{input}?`, replacing `chk `), trained to write the check trace
  of the model's OWN answers to train inputs (greedy and sampled at T 0.7 and 1.0), wrong
  answers up-weighted to balance the classes; selected by AUC on the model's greedy answers to
  dev inputs, where its threshold is also fitted (recorded as `critic_threshold`);
- the revise prompt (template `{input}>`, replacing `fix `), trained to turn the model's own wrong
  answers plus the judge's hint (`no bd`) into a right answer (and to keep right answers wrongly
  flagged), selected by the fraction of own wrong dev answers it fixes.

Then (at the end of a full run, or alone with `--fit-critic` after `--only` runs) how much the
loop's critic weighs the critique prompt against each task prompt's confidence
(`softloop.critics.fit_joint`), fitted on the task prompts' greedy dev answers and recorded in
the critique prompt's manifest.

Writes each prompt to `bench/reference/prompts/<name>/` and the evidence (every init's dev
score, data sizes, seconds) to `bench/reference/prompts/README.md` and `training.json`.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import random
import tempfile
import time
from pathlib import Path

import torch

from softloop.bench import evaluation as ev
from softloop.bench import formats
from softloop.bench.tasks import TASKS, Split, Task
from softloop.bench.world import (
    CRITIQUE,
    DEFAULT_PROMPTS,
    REFERENCE_DIR,
    REFERENCE_MODEL_ID,
    REVISE,
    critic_format,
    reference_model_path,
)
from softloop.critics import (
    ConfidenceCritic,
    CritiqueRequest,
    SoftPromptCritic,
    auc,
    confidence_choice,
    fit_confidence,
    fit_joint,
    fit_threshold,
    mark_loss,
)
from softloop.critics.confidence import CONFIDENCE_KEY
from softloop.prompts import Example, FrozenLM, SoftPrompt, TrainConfig, train_prompt
from softloop.prompts.soft_prompt import InitStrategy

MODEL_ID = REFERENCE_MODEL_ID  # recorded in manifests instead of this machine's path
INITS: tuple[InitStrategy, ...] = ("text", "vocab", "random")


def _difficulties(task: Task) -> list[int]:
    d = task.default_difficulty
    return [x for x in (d - 1, d, d + 1) if 1 <= x <= task.max_difficulty]


def train_task_prompt(lm: FrozenLM, task: Task, quick: bool, seed: int) -> tuple[SoftPrompt, dict]:
    per_d = 60 if quick else 400
    train = [
        Example(x, y) for d in _difficulties(task) for x, y in task.split("train", per_d, d, seed)
    ]
    dev = task.split("dev", 40 if quick else 400, seed=seed)  # inits differ by a few points
    instr = task.instruction + ":"  # the words the prompt replaces: "pth:" in "pth:a d;ab bd="
    n_tokens = len(instr)
    config = TrainConfig(
        steps=20 if quick else 300,
        lr=1e-2,
        batch_size=32,
        eval_every=25,
        patience=4,
        seed=seed,
        progress=False,
    )
    results: dict[str, dict] = {}
    best: tuple[SoftPrompt, float, str] | None = None
    for init in INITS:
        p = SoftPrompt.from_init(
            lm,
            n_tokens,
            init=init,
            text=instr if init == "text" else None,
            name=task.name,
            kind="task",
            template=formats.TASK_TEMPLATE,
            seed=seed,
        )
        start = ev.accuracy(lm, task, dev, "soft", p)
        report = train_prompt(
            lm, p, train, config=config, metric=lambda q: ev.accuracy(lm, task, dev, "soft", q)
        )
        results[init] = {
            "dev_acc_start": start,
            "dev_acc": report.best_dev,
            "best_step": report.best_step,
            "seconds": round(report.seconds, 1),
        }
        print(
            f"{task.name:8s} init={init:6s} dev acc {start:.3f} -> {report.best_dev:.3f} "
            f"(step {report.best_step}, {report.seconds:.0f}s)",
            flush=True,
        )
        if best is None or (report.best_dev or 0.0) > best[1]:
            best = (p, report.best_dev or 0.0, init)
    assert best is not None
    prompt, dev_acc, chosen = best
    prompt.manifest.metrics.update(
        {"dev_acc": float(dev_acc), "default_difficulty": float(task.default_difficulty)}
    )
    # How its own confidence ranks its greedy dev answers, and where to judge with it: what
    # the loop compares a critique prompt with, and judges by where that one is left out.
    xs = [x for x, _ in dev]
    got = ev.answers(lm, task, xs, "soft", prompt)
    choice = fit_confidence(
        lm,
        prompt,
        [CritiqueRequest(task=task.name, input=x, answer=a) for x, a in zip(xs, got, strict=True)],
        [task.check(x, a) for x, a in zip(xs, got, strict=True)],
    )
    prompt.manifest.extra[CONFIDENCE_KEY] = choice.as_extra()
    return prompt, {
        "n_tokens": n_tokens,
        "train_examples": len(train),
        "dev_examples": len(dev),
        "inits": results,
        "chosen": chosen,
        "confidence": choice.as_extra(),
    }


def own_judge_data(
    lm: FrozenLM, split: Split, n: int, seed: int, around: bool
) -> list[tuple[Task, str, str]]:
    """(task, input, answer) triples: the model's own answers, greedy and sampled."""
    cases: list[tuple[Task, str, str]] = []
    for task in TASKS.values():
        ds = _difficulties(task) if around else [task.default_difficulty]
        for d in ds:
            xs = [x for x, _ in task.split(split, n, d, seed)]
            cases += [(task, x, a) for x, a in ev.own_cases(lm, task, xs, seed=seed + d)]
    return list(dict.fromkeys(cases))  # greedy and sampled answers often coincide


def _critique_examples(cases, seed: int) -> list[Example]:
    """Each own answer with its check trace as the target; wrong answers weighted up to balance."""
    wrong = sum(not t.check(x, a) for t, x, a in cases)
    w = min(5.0, max(1.0, (len(cases) - wrong) / max(1, wrong)))  # balance the classes
    out = [
        Example(
            formats.case_text(t.instruction, x, a),
            formats.check_trace(t.steps(x, a)),
            1.0 if t.check(x, a) else w,
        )
        for t, x, a in cases
    ]
    random.Random(seed).shuffle(out)
    return out


def _greedy(cases, lm: FrozenLM) -> list[tuple[Task, str, str]]:
    """The cases whose answer is the model's greedy one: what the loop's critic judges first."""
    greedy = set()
    for task in TASKS.values():
        xs = sorted({x for t, x, _ in cases if t is task})
        greedy |= {(task.name, x, a) for x, a in zip(xs, ev.answers(lm, task, xs), strict=True)}
    return [c for c in cases if (c[0].name, c[1], c[2]) in greedy]


def train_critique_prompt(lm: FrozenLM, quick: bool, seed: int) -> tuple[SoftPrompt, dict]:
    """Trained on own answers (greedy and sampled); selected, and its threshold fitted, on the
    model's greedy answers to dev inputs, the answers the loop's critic judges first."""
    t0 = time.perf_counter()
    train_cases = own_judge_data(lm, "train", 20 if quick else 250, seed, around=True)
    dev_cases = _greedy(own_judge_data(lm, "dev", 10 if quick else 150, seed + 7, False), lm)
    train = _critique_examples(train_cases, seed)
    data_s = time.perf_counter() - t0
    config = TrainConfig(
        steps=20 if quick else 600,
        lr=1e-2,
        batch_size=32,
        eval_every=25,
        patience=8,
        seed=seed,
        progress=False,
    )
    results: dict[str, dict] = {}
    best: tuple[SoftPrompt, float, str] | None = None
    instr = formats.CRITIQUE_INSTRUCTION
    # The text init must have the instruction's length; vocabulary rows may use more tokens.
    candidates: list[tuple[InitStrategy, int]] = [
        ("text", len(instr)),
        ("vocab", len(instr)),
        ("vocab", 16),
    ]
    for init, n_tokens in candidates:
        p = SoftPrompt.from_init(
            lm,
            n_tokens,
            init=init,
            text=instr if init == "text" else None,
            name=CRITIQUE,
            kind="critique",
            template=formats.CRITIQUE_TEMPLATE,
            seed=seed,
        )
        start = ev.critic_prf(lm, dev_cases, p)["auc"]
        report = train_prompt(
            lm,
            p,
            train,
            config=config,
            metric=lambda q: ev.critic_prf(lm, dev_cases, q)["auc"],
            loss=mark_loss(critic_format(), fail_weight=2.0),
        )
        results[f"{init}/{n_tokens}"] = {
            "dev_auc_start": start,
            "dev_auc": report.best_dev,
            "best_step": report.best_step,
            "seconds": round(report.seconds, 1),
        }
        print(
            f"critique init={init:6s} n={n_tokens:2d} dev AUC {start:.3f} -> {report.best_dev:.3f}"
            f" (step {report.best_step})",
            flush=True,
        )
        if best is None or (report.best_dev or 0.0) > best[1]:
            best = (p, report.best_dev or 0.0, f"{init}/{n_tokens}")
    assert best is not None
    prompt, _, chosen = best
    probs = ev.pass_probabilities(lm, dev_cases, prompt)
    correct = [t.check(x, a) for t, x, a in dev_cases]
    threshold = fit_threshold(probs, correct)
    wrong_dev = [not c for c in correct]
    dev = ev.probs_prf(probs, wrong_dev, threshold)
    # Per task too, from the same probabilities: the loop compares the critique prompt with
    # each task prompt's confidence, and judges at a threshold of the task's own (the pass
    # probabilities differ in scale from one task's traces to another's).
    per_task: dict[str, float] = {}
    for task in TASKS.values():
        rows = [i for i, c in enumerate(dev_cases) if c[0] is task]
        per_task[task.name] = auc([-probs[i] for i in rows], [wrong_dev[i] for i in rows])
        if per_task[task.name] == per_task[task.name]:  # NaN: nothing to rank on this task
            prompt.manifest.metrics[f"dev_auc:{task.name}"] = float(per_task[task.name])
        if rows:
            prompt.manifest.metrics[f"critic_threshold:{task.name}"] = fit_threshold(
                [probs[i] for i in rows], [correct[i] for i in rows]
            )
    prompt.manifest.metrics.update(
        {
            "critic_threshold": threshold,
            **{
                f"dev_{k}": float(v)
                for k, v in dev.items()
                if k in ("precision", "recall", "f1", "balanced_acc", "auc")
            },
        }
    )
    wrong = sum(not t.check(x, a) for t, x, a in train_cases)
    return prompt, {
        "n_tokens": prompt.n_tokens,
        "train_examples": len(train),
        "train_wrong": wrong,
        "dev_examples": len(dev_cases),
        "dev_wrong": dev["wrong"],
        "threshold": threshold,
        "dev_f1": dev["f1"],
        "dev_auc_per_task": per_task,
        "data_seconds": round(data_s, 1),
        "inits": results,
        "chosen": chosen,
    }


def _fix_rate(lm: FrozenLM, cases, prompt: SoftPrompt) -> float:
    queries = [formats.revise_case_text(t.instruction, x, a, t.hint(x, a)) for t, x, a in cases]
    got = []
    for s in range(0, len(queries), ev.CHUNK):
        got += lm.generate(
            queries[s : s + ev.CHUNK], prompts=prompt, max_new_tokens=ev.MAX_NEW_TOKENS
        )
    return sum(t.check(x, g) for (t, x, _), g in zip(cases, got, strict=True)) / max(1, len(cases))


def train_revise_prompt(lm: FrozenLM, quick: bool, seed: int) -> tuple[SoftPrompt, dict]:
    """Trained to turn an own wrong answer and the judge's hint (`no bd`) into a right answer,
    and to keep a right answer flagged by mistake; selected on own wrong dev answers fixed."""
    train_cases = own_judge_data(lm, "train", 20 if quick else 150, seed + 11, around=True)
    dev_cases = own_judge_data(lm, "dev", 10 if quick else 80, seed + 13, around=False)
    dev_wrong = [c for c in dev_cases if not c[0].check(c[1], c[2])]
    rng = random.Random(seed)
    train = []
    for t, x, a in train_cases:
        ok = t.check(x, a)
        if ok and rng.random() > 0.15:
            continue  # a few right answers, flagged by mistake, must be kept as they are
        if ok:  # a false alarm names one of the answer's steps as failing
            claims = [s.claim for s in t.steps(x, a) if s.claim]
            hint, target = (f"no {rng.choice(claims)}" if claims else "no"), a
        else:
            hint, target = t.hint(x, a), t.solve(x)
        train.append(Example(formats.revise_case_text(t.instruction, x, a, hint), target))
    instr = formats.REVISE_INSTRUCTION
    config = TrainConfig(
        steps=20 if quick else 300,
        lr=1e-2,
        batch_size=32,
        eval_every=25,
        patience=4,
        seed=seed,
        progress=False,
    )
    p = SoftPrompt.from_init(
        lm,
        len(instr),
        init="text",
        text=instr,
        name=REVISE,
        kind="revise",
        template=formats.REVISE_TEMPLATE,
        seed=seed,
    )
    start = _fix_rate(lm, dev_wrong, p)
    report = train_prompt(lm, p, train, config=config, metric=lambda q: _fix_rate(lm, dev_wrong, q))
    print(
        f"revise   init=text   dev fix rate {start:.3f} -> {report.best_dev:.3f}"
        f" (step {report.best_step})",
        flush=True,
    )
    p.manifest.metrics["dev_fix_rate"] = float(report.best_dev or 0.0)
    return p, {
        "n_tokens": len(instr),
        "train_examples": len(train),
        "dev_wrong_answers": len(dev_wrong),
        "inits": {
            "text": {
                "dev_fix_rate_start": start,
                "dev_fix_rate": report.best_dev,
                "best_step": report.best_step,
            }
        },
        "chosen": "text",
    }


def fit_loop_critic(lm: FrozenLM, out: Path, quick: bool, seed: int) -> dict[str, dict]:
    """Per task, how much the critique prompt weighs against the task prompt's confidence in the
    loop's critic (`softloop.critics.fit_joint`), fitted on the task prompt's greedy answers to
    dev inputs (what the loop judges first) and recorded in the critique prompt's manifest."""
    critique = SoftPrompt.load(out / CRITIQUE, lm=lm)
    for key in [k for k in critique.manifest.metrics if k.startswith("joint_")]:
        del critique.manifest.metrics[key]  # fitted with an earlier version of either prompt
    judge = SoftPromptCritic(lm, critique, fmt=critic_format(), threshold=1.0)
    found: dict[str, dict] = {}
    for task in TASKS.values():
        prompt = SoftPrompt.load(out / task.name, lm=lm)
        xs = [x for x, _ in task.split("dev", 40 if quick else 300, seed=seed)]
        got = ev.answers(lm, task, xs, "soft", prompt)
        reduce, threshold = confidence_choice(prompt) or ("min", 0.6)
        requests = [
            CritiqueRequest(task=task.name, input=x, answer=a) for x, a in zip(xs, got, strict=True)
        ]
        confidence = ConfidenceCritic(lm, prompt, threshold=threshold, reduce=reduce)
        choice = fit_joint(
            confidence.scores(requests),
            [c.score for c in judge.critique_batch(requests)],
            [task.check(r.input, r.answer) for r in requests],
        )
        if choice.weight > 0:
            critique.manifest.metrics.update(choice.as_metrics(task.name))
        found[task.name] = {
            "weight": choice.weight,
            "threshold": choice.threshold,
            "auc": choice.auc,
            "confidence_auc": choice.confidence_auc,
        }
        print(
            f"loop critic {task.name:8s} critique weight {choice.weight:g}: dev AUC"
            f" {choice.confidence_auc:.3f} -> {choice.auc:.3f}",
            flush=True,
        )
    critique.save(out / CRITIQUE)
    return found


def write_readme(out: Path, log: dict) -> None:
    """Render `training.json` as the evidence table in `README.md`."""
    lines = [
        "# Default soft prompts of the reference world",
        "",
        "Trained by `python -m softloop.bench.train_prompts` on the reference model (`../model/`);",
        "each folder holds `prompt.safetensors` + `manifest.json`",
        "(load with `SoftPrompt.load(dir, lm=lm)`). Task prompts were trained on right answers",
        "at the default difficulty +-1 (train split) and selected on greedy dev accuracy at the",
        "default difficulty; the critique prompt on the model's own answers (greedy, T=0.7,",
        "T=1.0) labelled by the oracle to write their check traces, selected on dev AUC over",
        "the model's greedy dev answers, where its threshold was fitted too (`critic_threshold`",
        "in its manifest, with its dev AUC per task). Three initialisations competed per",
        "prompt: the text instruction's own embeddings, vocabulary rows, and noise at the",
        "embedding scale. Dev figures below; test figures: `python -m softloop.bench.reference`.",
        "",
        "| prompt | tokens | init | dev start | dev best | best step | chosen |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, info in log.items():
        for key, r in info["inits"].items():
            init, _, n = key.partition("/")
            vals = [v for k, v in r.items() if k not in ("best_step", "seconds", "dev_f1")]
            lines.append(
                f"| {name} | {n or info['n_tokens']} | {init} | {vals[0]:.3f} | {vals[1]:.3f} |"
                f" {r['best_step']} | {'yes' if key == info['chosen'] else ''} |"
            )
    lines += [
        "",
        "The loop critic's weights (the critique prompt against each task prompt's confidence,",
        "`joint_weight:<task>` in the critique prompt's manifest) are in `training.json` under",
        "`critique.loop_critic`, with the dev AUC of confidence alone and of the pair.",
        "",
        "Metric: task prompts dev accuracy; critique dev AUC at ranking wrong answers below",
        "right ones (0.5 is chance; F1 at the fitted threshold is in training.json, test",
        "figures in `python -m softloop.bench.critic`); revise the fraction of own wrong dev",
        "answers fixed given the oracle's hint.",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines))


def _record(out: Path, name: str, info: dict) -> None:
    """Merge one prompt's evidence into `training.json` and the README; a lock lets several
    `--only` processes (one per CPU core) share the folder."""
    out.mkdir(parents=True, exist_ok=True)
    with open(Path(tempfile.gettempdir()) / "softloop-train-prompts.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = out / "training.json"
        log = json.loads(path.read_text()) if path.exists() else {}
        log[name] = info
        log = {k: log[k] for k in DEFAULT_PROMPTS if k in log}
        path.write_text(json.dumps(log, indent=1) + "\n")
        write_readme(out, log)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m softloop.bench.train_prompts", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--only", nargs="*", choices=DEFAULT_PROMPTS, help="train only these prompts")
    ap.add_argument("--out", type=Path, default=REFERENCE_DIR / "prompts")
    ap.add_argument(
        "--model", default=None, help="base model folder (default: the reference model)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--quick", action="store_true", help="tiny data and few steps, to test the script"
    )
    ap.add_argument(
        "--fit-critic",
        action="store_true",
        help="after training (a full run does it at the end): fit per task how the loop weighs "
        "the critique prompt against the task prompt's confidence, on dev",
    )
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    lm = FrozenLM.from_pretrained(args.model or reference_model_path())
    lm.model_id = MODEL_ID
    names = [] if args.fit_critic and args.only is None else (args.only or DEFAULT_PROMPTS)
    for name in names:
        t0 = time.perf_counter()
        if name == CRITIQUE:
            prompt, info = train_critique_prompt(lm, args.quick, args.seed)
        elif name == REVISE:
            prompt, info = train_revise_prompt(lm, args.quick, args.seed)
        else:
            prompt, info = train_task_prompt(lm, TASKS[name], args.quick, args.seed)
        info["seconds"] = round(time.perf_counter() - t0, 1)
        prompt.save(args.out / name)
        _record(args.out, name, info)
    if args.fit_critic or not args.only:
        joint = fit_loop_critic(lm, args.out, args.quick, args.seed)
        log = json.loads((args.out / "training.json").read_text())
        _record(args.out, CRITIQUE, {**log[CRITIQUE], "loop_critic": joint})
        names = [*names, "the loop critic's weights"]
    print(f"wrote {', '.join(names)} to {args.out}")


if __name__ == "__main__":
    main()
