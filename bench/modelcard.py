"""Measure a pre-trained reference model with its text instructions and write `MODEL_CARD.md`.

Measured on the test split, greedy, text instruction (`{instr}:{input}=`):
- solve accuracy per task at every difficulty from 1 to the task's pre-training maximum;
- the text-instructed judge (`chk ...?`, verdict = P(y) > P(n)) at each task's default
  difficulty, on the model's own answers (greedy and sampled at T=1.0), labelled by the oracle.
"""

from __future__ import annotations

from pathlib import Path

from softloop.bench import formats
from softloop.bench.decode import complete, next_token_logprobs
from softloop.bench.evaluation import prf
from softloop.bench.mixture import PHASE1, PHASE2
from softloop.bench.tasks import TASKS


def evaluate_model(model, tok, n: int) -> dict:
    acc: dict[str, dict[int, float]] = {}
    for task in TASKS.values():
        cases = {d: task.split("test", n, difficulty=d) for d in range(1, task.max_difficulty + 1)}
        flat = [(d, x, y) for d, xs in cases.items() for x, y in xs]
        got = complete(model, tok, [formats.solve_text(task.instruction, x) for _, x, _ in flat])
        acc[task.name] = {
            d: sum(g == y for (dd, _, y), g in zip(flat, got, strict=True) if dd == d)
            / max(1, len(xs))
            for d, xs in cases.items()
            if xs  # tiny difficulties can leave a split empty (dedup of 1 letter: 10 inputs)
        }
    # Judge on own outputs at the default difficulty.
    cases = []
    for task in TASKS.values():
        xs = [x for x, _ in task.split("test", n)]
        q = [formats.solve_text(task.instruction, x) for x in xs]
        for temp in (0.0, 1.0):
            for x, a in zip(xs, complete(model, tok, q, temperature=temp, seed=1), strict=True):
                cases.append((task, x, a))
    y_id, n_id = tok.convert_tokens_to_ids([formats.YES_TOKEN, formats.NO_TOKEN])
    lp = next_token_logprobs(
        model, tok, [formats.judge_text(t.instruction, x, a) for t, x, a in cases]
    )
    pred_wrong = (lp[:, n_id] > lp[:, y_id]).tolist()
    is_wrong = [not t.check(x, a) for t, x, a in cases]
    judge = prf(pred_wrong, is_wrong)
    per_task = {}
    for task in TASKS.values():
        sel = [i for i, (t, _, _) in enumerate(cases) if t is task]
        per_task[task.name] = prf([pred_wrong[i] for i in sel], [is_wrong[i] for i in sel])
    return {"solve_acc": acc, "judge_own": judge, "judge_own_per_task": per_task}


_CARD = """# softloop reference base model

A character-level Llama pre-trained from scratch by `python -m bench.pretrain` on the reference
tasks (`bench/tasks.py`) in the text formats of `bench/formats.py`. It exists so that softloop
runs offline; it is not a general language model.

## Model
- Llama, hidden {hidden}, {layers} layers, {heads} heads, MLP {mlp}, tied embeddings,
  {parameters:,} parameters, float32 safetensors.
- Tokenizer: one token per printable ASCII character plus `<pad>` 0, `<bos>` 1, `<eos>` 2,
  `<unk>` 3; `<bos>` is prepended to every sequence, generation stops at `<eos>`.
- Load: `AutoModelForCausalLM.from_pretrained(path)`, `AutoTokenizer.from_pretrained(path)`.

## Data mixture
Inputs from the train split only (split by a hash of the input; the test split is never trained
on), difficulty d drawn uniformly from 1 to the task's max.

| ability | text | phase 1 share | phase 2 share |
|---|---|---|---|
| solve | `rev:abc=` → `cba` | {p1.solve:.0%} | {p2.solve:.0%} |
| judge (half right) | `chk rev:abc=cab?` → `yes`, `no:{{hint}}` | {p1.judge:.0%} | {p2.judge:.0%} |
| revise (10 % keep) | `fix rev:abc=cab!at 1>` → `cba` | {p1.revise:.0%} | {p2.revise:.0%} |

Phase 1 makes wrong answers by synthetic edits of the right one. At {own_at_pct} of training the
model answers {own_inputs} fresh train inputs per task, greedy and sampled at T = {temps}; the
oracle labels them. From then on (phase 2) 70 % of judge examples use the model's own answers
and 70 % of revise examples fix its own mistakes.

Own outputs per sampling round, (right, wrong) per task: {rounds}

## Training
- {steps} AdamW steps, batch {batch_size}, peak lr {lr}, warm-up {warmup:.0%}, cosine to 1 %,
  weight decay {weight_decay}, seed {seed}; loss on the target tokens only.
- Wall time: {train_min:.1f} min training, {total_min:.1f} min with evaluation, {threads} CPU
  thread(s), on a 2-core machine shared with other work (an idle machine is faster).
- Final loss (mean of the last 100 steps): {final_loss}.
- Loss every 100 steps: {curve}.

## Accuracy (test split, greedy, text instruction)

| task | instruction | easy d | acc at easy | default d | acc at default |
|---|---|---|---|---|---|
"""


def write_card(out: Path, stats: dict) -> None:
    cfg, ev = stats["config"], stats["eval"]
    acc = {t: {int(d): a for d, a in v.items()} for t, v in ev["solve_acc"].items()}
    text = _CARD.format(
        **{k: v for k, v in cfg.items() if k != "threads"},
        parameters=stats["parameters"],
        p1=PHASE1,
        p2=PHASE2,
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
    top = max(t.max_difficulty for t in TASKS.values())
    lines += [
        "",
        f"Per difficulty ({cfg['eval_n']} test inputs each; fewer where the split is smaller):",
        "",
        "| task | " + " | ".join(str(d) for d in range(1, top + 1)) + " |",
        "|---|" + "---|" * top,
    ]
    for t in TASKS.values():
        cells = [f"{acc[t.name][d]:.0%}" if d in acc[t.name] else "" for d in range(1, top + 1)]
        lines.append(f"| {t.name} | " + " | ".join(cells) + " |")
    j = ev["judge_own"]
    lines += [
        "",
        "## Text-instructed judge on its own answers",
        "At the default difficulty, on the model's own greedy and T=1.0 answers to the test split"
        f" ({j['n']} answers, {j['wrong']} wrong), verdict = P(`n`) > P(`y`) after `chk ...?`:"
        f" precision {j['precision']:.2f}, recall {j['recall']:.2f}, F1 {j['f1']:.2f}.",
        "",
        "| task | answers | wrong | precision | recall | F1 |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in ev["judge_own_per_task"].items():
        p, r, f = m["precision"], m["recall"], m["f1"]
        lines.append(f"| {name} | {m['n']} | {m['wrong']} | {p:.2f} | {r:.2f} | {f:.2f} |")
    lines.append("")
    (out / "MODEL_CARD.md").write_text("\n".join(lines))
