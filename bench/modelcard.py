"""Measure a pre-trained reference model with its text instructions and write `MODEL_CARD.md`.

Measured on the test split, greedy, text instruction (`{instr}:{input}=`):
- solve accuracy per task at every difficulty of the pre-training range;
- the text-instructed judge (`chk ...?`) at each task's default difficulty, on the model's own
  greedy answers labelled by the oracle: an answer is flagged when the passing trace's marks
  multiply to less than 1/2 (`bench.formats`); and, for comparison, the model's own confidence
  (its least likely answer token), both as AUC at ranking wrong answers above right ones.
"""

from __future__ import annotations

import math
from pathlib import Path

from softloop.bench import formats
from softloop.bench.decode import answer_logprobs, complete, mark_logprobs
from softloop.bench.evaluation import prf
from softloop.bench.mixture import PHASE1, PHASE2, PHASE3
from softloop.bench.tasks import TASKS
from softloop.critics.metrics import auc


def evaluate_model(model, tok, n: int) -> dict:
    acc: dict[str, dict[int, float]] = {}
    for task in TASKS.values():
        difficulties = range(task.min_train_difficulty, task.max_difficulty + 1)
        cases = {d: task.split("test", n, difficulty=d) for d in difficulties}
        flat = [(d, x) for d, xs in cases.items() for x, _ in xs]
        got = complete(model, tok, [formats.solve_text(task.instruction, x) for _, x in flat])
        right = [task.check(x, a) for (_, x), a in zip(flat, got, strict=True)]
        acc[task.name] = {
            d: sum(r for (dd, _), r in zip(flat, right, strict=True) if dd == d) / len(xs)
            for d, xs in cases.items()
            if xs
        }
    judge: dict[str, dict] = {}
    all_flags: list[bool] = []
    all_wrong: list[bool] = []
    for task in TASKS.values():
        xs = [x for x, _ in task.split("test", n)]
        solve = [formats.solve_text(task.instruction, x) for x in xs]
        got = complete(model, tok, solve)
        wrong = [not task.check(x, a) for x, a in zip(xs, got, strict=True)]
        traces = [
            formats.passing_trace([s.claim for s in task.steps(x, a)])
            for x, a in zip(xs, got, strict=True)
        ]
        queries = [formats.judge_text(task.instruction, x, a) for x, a in zip(xs, got, strict=True)]
        marks = mark_logprobs(model, tok, queries, traces, formats.PASS_MARK, formats.FAIL_MARK)
        passing = [sum(m) for m in marks]
        confidence = [min(lp) for lp in answer_logprobs(model, tok, solve, got)]
        flags = [p < math.log(0.5) for p in passing]
        judge[task.name] = {
            **prf(flags, wrong),
            "auc": auc([-p for p in passing], wrong),
            "confidence_auc": auc([-c for c in confidence], wrong),
        }
        all_flags += flags
        all_wrong += wrong
    return {"solve_acc": acc, "judge_own": prf(all_flags, all_wrong), "judge_own_per_task": judge}


_CARD = """# softloop reference base model

A small Llama pre-trained from scratch by `python -m softloop.bench.pretrain` on the
reference tasks (`bench/tasks.py`) in the text formats of `bench/formats.py`. It exists so that
softloop runs offline; it is not a general language model.

## Model
- Llama, hidden {hidden}, {layers} layers, {heads} heads, MLP {mlp}, tied embeddings,
  {parameters:,} parameters, float32 safetensors; initial weights drawn with std {init_range}.
- Tokenizer (`bench/tokenizer.py`): one token per printable ASCII character, one per lone pair
  of lowercase letters (an edge `bd`, a claim, a hint's pair; not inside longer words), plus
  `<pad>` 0, `<bos>` 1, `<eos>` 2, `<unk>` 3; `<bos>` is prepended to every sequence, generation
  stops at `<eos>`.
- Load: `AutoModelForCausalLM.from_pretrained(path)`, `AutoTokenizer.from_pretrained(path)`.

## Data mixture
Inputs from the train split only (split by a hash of the input; the test split is never trained
on), difficulty d drawn uniformly from the task's lowest training difficulty to its max.

| ability | text | phase 1 | phase 2 | phase 3 |
|---|---|---|---|---|
| solve | `pth:a d;ab bd=` → `abd` | {p1.solve:.0%} | {p2.solve:.0%} | {p3.solve:.0%} |
| judge (half right) | `chk pth:a d;ab bd=acd?` → `a+ ac- cd- d+` \
| {p1.judge:.0%} | {p2.judge:.0%} | {p3.judge:.0%} |
| revise (10 % keep) | `fix pth:a d;ab bd=acd!no ac>` → `abd` \
| {p1.revise:.0%} | {p2.revise:.0%} | {p3.revise:.0%} |

Solve, judge and revise share what spelling leaves: spell `spl:ad cb=` → `adcb` (pairs of
letters, which the tokenizer makes single tokens, written back as letters) takes {p1.spell:.0%}
of phase 1, {p2.spell:.0%} of phase 2 and {p3.spell:.0%} of phase 3.

Phase 1 makes wrong answers by synthetic edits of the right one. At {own_at_pct} of training the
model answers {own_inputs} fresh train inputs per task, greedy and sampled at T = {temps}; the
oracle labels them. From then on (phase 2) {p2_judge_own:.0%} of judge examples use the model's
own answers and {p2_revise_own:.0%} of revise examples fix its own mistakes.

Own outputs per sampling round, (right, wrong) per task: {rounds}

{phase3}

## Training
- Phases 1 and 2: {steps} AdamW steps, batch {batch_size}, peak lr {lr}, warm-up {warmup:.0%},
  cosine to 1 %, weight decay {weight_decay}, seed {seed}; loss on the target tokens only (a
  judge's failing marks weigh twice).
- Wall time: {train_min:.1f} min training, {total_min:.1f} min with evaluation, {threads} CPU
  thread(s), on a 2-core machine shared with other work (an idle machine is faster).
- Phases 1 and 2 final loss (mean of the last 100 steps): {final_loss}.
- Phases 1 and 2 loss every 100 steps: {curve}.

## Accuracy (test split, greedy, text instruction)

| task | instruction | easy d | acc at easy | default d | acc at default |
|---|---|---|---|---|---|
"""


def _phase3(stats: dict) -> str:
    focus = stats.get("focus")
    if not focus:
        return "No phase 3 (the judge on its own answers around the default difficulties)."
    cfg = stats["config"]
    rounds = "; ".join(f"step {r['step']}: {r['own_outputs']}" for r in focus["own_output_rounds"])
    return (
        f"Phase 3 ({focus['steps']} steps, peak lr {cfg['focus_lr']}, cosine to 5 %, "
        f"{focus['seconds'] / 60:.1f} min, final loss {focus['final_loss']}): every "
        f"{cfg['focus_resample_every']} steps the model answers {cfg['focus_inputs']} fresh "
        "train inputs per task within one of the default difficulty, greedy and sampled at "
        f"T = {', '.join(str(t) for t in cfg['focus_temperatures'][1:])}; "
        f"{PHASE3.judge_own:.0%} of judge examples use these answers and "
        f"{PHASE3.revise_own:.0%} of revise examples fix their mistakes. Own outputs per round, "
        f"(right, wrong) per task: {rounds}"
    )


def write_card(out: Path, stats: dict) -> None:
    cfg, ev = stats["config"], stats["eval"]
    acc = {t: {int(d): a for d, a in v.items()} for t, v in ev["solve_acc"].items()}
    text = _CARD.format(
        **{k: v for k, v in cfg.items() if k not in ("threads", "init_range")},
        init_range=cfg.get("init_range", 0.02),  # older stats predate the setting
        parameters=stats["parameters"],
        p1=PHASE1,
        p2=PHASE2,
        p2_judge_own=PHASE2.judge_own,
        p2_revise_own=PHASE2.revise_own,
        p3=PHASE3,
        phase3=_phase3(stats),
        own_at_pct=", ".join(f"{int(f * 100)} %" for f in cfg["own_at"]),
        temps=", ".join(str(t) for t in cfg["temperatures"][1:]),
        rounds="; ".join(
            f"step {r['step']}: {r['own_outputs']}" for r in stats["own_output_rounds"]
        ),
        train_min=stats["train_seconds"] / 60,
        total_min=stats["total_seconds"] / 60,
        threads=stats["torch_threads"],
        final_loss=stats["final_loss"],
        curve=", ".join(str(x) for x in stats["loss_curve"]),
    )
    lines = text.splitlines()
    nan = float("nan")
    for t in TASKS.values():
        a = acc[t.name]
        easy, default = a.get(t.easy_difficulty, nan), a.get(t.default_difficulty, nan)
        lines.append(
            f"| {t.name} | `{t.instruction}` | {t.easy_difficulty} | {easy:.0%}"
            f" | {t.default_difficulty} | {default:.0%} |"
        )
    low = min(t.min_train_difficulty for t in TASKS.values())
    top = max(t.max_difficulty for t in TASKS.values())
    span = range(low, top + 1)
    lines += [
        "",
        f"Per difficulty ({cfg['eval_n']} test inputs each; fewer where the split is smaller):",
        "",
        "| task | " + " | ".join(str(d) for d in span) + " |",
        "|---|" + "---|" * len(span),
    ]
    for t in TASKS.values():
        cells = [f"{acc[t.name][d]:.0%}" if d in acc[t.name] else "" for d in span]
        lines.append(f"| {t.name} | " + " | ".join(cells) + " |")
    j = ev["judge_own"]
    lines += [
        "",
        "## Text-instructed judge on its own answers",
        "At the default difficulty, on the model's own greedy answers to the test split"
        f" ({j['n']} answers, {j['wrong']} wrong); an answer is flagged when its passing trace"
        " after `chk ...?` has probability below 1/2: precision"
        f" {j['precision']:.2f}, recall {j['recall']:.2f}, F1 {j['f1']:.2f}. AUC ranks wrong"
        " answers above right ones; confidence AUC does the same with the least likely answer"
        " token.",
        "",
        "| task | answers | wrong | precision | recall | F1 | AUC | confidence AUC |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in ev["judge_own_per_task"].items():
        p, r, f = m["precision"], m["recall"], m["f1"]
        lines.append(
            f"| {name} | {m['n']} | {m['wrong']} | {p:.2f} | {r:.2f} | {f:.2f}"
            f" | {m['auc']:.3f} | {m['confidence_auc']:.3f} |"
        )
    lines.append("")
    (out / "MODEL_CARD.md").write_text("\n".join(lines))
