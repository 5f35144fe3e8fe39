"""Pre-train the reference base model: `python -m softloop.bench.pretrain [--steps N] [--out DIR]`.

A small Llama (tokenizer: `bench.tokenizer`) learns three text-instructed abilities on the
reference tasks (formats in `bench.formats`, data in `bench.mixture`):

1. phase 1 — solve, judge and revise with wrong answers made by synthetic edits;
2. own outputs — the phase-1 model answers train-split inputs (greedy and sampled at temperature
   0.8 and 1.0); the oracle labels each answer;
3. phase 2 — the same mixture, where most judge examples are the model's own labelled answers
   and most revise examples fix its own mistakes. Own outputs are sampled again part-way, since
   the model's mistakes move as it learns;
4. phase 3 — the judge on the model's own answers where the loop meets them: inputs around each
   task's default difficulty, answered greedily (the first attempt's mistakes) and sampled, at a
   lower learning rate. A judge that checks synthetic edits well can still pass the model's own
   mistakes, which are the plausible ones; this phase is spent on those.

Then it measures greedy accuracy per task and difficulty on the test split and writes the
weights, the tokenizer, `pretrain_stats.json` and `MODEL_CARD.md` to `--out`
(default: the shipped `bench/reference/model/`). `--smoke` runs a few steps of a tiny model into
a temporary folder in seconds (the test suite runs it). `--card` only re-measures a saved model
and rewrites its card (after changing a task's default difficulty). `--from DIR` runs phase 3
only, on a model saved by phases 1 and 2 (its `pretrain_stats.json` is carried over).

Everything is seeded; the run is repeatable on one machine (CPU thread scheduling can still move
the last digits of a loss).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from softloop.bench import formats, mixture
from softloop.bench.decode import complete
from softloop.bench.modelcard import evaluate_model, write_card
from softloop.bench.tasks import TASKS
from softloop.bench.tokenizer import PAIRS, build_tokenizer

PAIR_INITS = ("letters", "random")


@dataclass
class PretrainConfig:
    steps: int = 8000  # phases 1 and 2; phase 3 adds `focus_steps`
    batch_size: int = 64  # larger batches cost proportionally more on 2 cores, for little gain
    lr: float = 3e-3  # small models tolerate a high peak lr; one-cycle cosine down to 1 %
    warmup: float = 0.02  # fraction of steps of linear warm-up
    weight_decay: float = 0.01
    # Small and many steps rather than larger and fewer: a judge's lookups are learned by the
    # number of updates, and a small model takes more of them within the budget.
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    mlp: int = 384
    # Standard deviation of the initial weights, five times transformers' default 0.02: at 0.02
    # the judge's lookups (is this pair an edge?) stay at chance far longer (`bench.lookup_probe`
    # measures it).
    init_range: float = 0.1
    # A pair token's first embedding: "letters" builds it from its two letters' embeddings
    # (`compose_pair_embeddings`), "random" draws it like any other row.
    pair_init: str = "letters"
    # Own outputs are sampled several times: the judge must learn the model's current mistakes,
    # and they move as it learns to solve.
    own_at: tuple[float, ...] = (0.2, 0.35, 0.5, 0.65, 0.8)
    own_inputs: int = 300  # train inputs per task per sampling round (x3 decodings)
    temperatures: tuple[float, ...] = (0.0, 0.8, 1.0)  # 0 = greedy
    eval_n: int = 100  # test inputs per task and difficulty in the accuracy table
    # One thread: on a 2-core machine shared with other work, two threads on a model this small
    # stall on each other; an idle machine gains a little from two.
    threads: int = 1
    seed: int = 0
    log_every: int = 100
    checkpoint_every: int = 2000  # steps between snapshots in `{out}/checkpoint` (0: none)
    # Phase 3. A lower peak lr than phase 1's: the solver must survive it.
    focus_steps: int = 3000
    focus_lr: float = 1e-3
    focus_inputs: int = 1500  # train inputs per task per sampling, around the default difficulty
    focus_temperatures: tuple[float, ...] = (0.0, 0.7)
    focus_resample_every: int = 1000  # steps between fresh own answers (its mistakes move)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(
                f"steps and batch_size must be >= 1, got {self.steps}, {self.batch_size}"
            )
        if self.focus_steps < 0 or self.focus_resample_every < 1:
            raise ValueError(
                f"focus_steps must be >= 0 and focus_resample_every >= 1, got "
                f"{self.focus_steps}, {self.focus_resample_every}"
            )
        if self.pair_init not in PAIR_INITS:
            raise ValueError(
                f"pair_init must be one of {', '.join(PAIR_INITS)}, got {self.pair_init!r}"
            )
        if not self.init_range > 0:
            raise ValueError(f"init_range must be a positive std, got {self.init_range}")
        if not all(0 < f < 1 for f in self.own_at):
            raise ValueError(f"own_at holds fractions of training in (0, 1), got {self.own_at}")


def build_model(cfg: PretrainConfig, vocab_size: int) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden,
        intermediate_size=cfg.mlp,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.heads,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        initializer_range=cfg.init_range,
    )
    return LlamaForCausalLM(config)


def compose_pair_embeddings(
    model: LlamaForCausalLM, tok: PreTrainedTokenizerFast, seed: int
) -> None:
    """Start every pair token's embedding as its letters': `(e[a] + e[b] @ R) / sqrt(2)`.

    `R` is a random rotation that marks the second letter, so `ab` and `ba` differ. A pair
    token drawn at random holds nothing of its letters, and the model must learn 676 of them
    from the tasks before a solver can walk a graph; built from its letters, a pair starts out
    reading as those letters, and training refines it. The global random state is left alone.
    """
    emb = model.get_input_embeddings().weight
    assert isinstance(emb, torch.Tensor)
    width = int(emb.shape[1])
    g = torch.Generator().manual_seed(seed)
    rotation, _ = torch.linalg.qr(torch.randn(width, width, generator=g))
    pair_ids = tok.convert_tokens_to_ids(list(PAIRS))
    first = tok.convert_tokens_to_ids([p[0] for p in PAIRS])
    second = tok.convert_tokens_to_ids([p[1] for p in PAIRS])
    with torch.no_grad():
        emb[pair_ids] = (emb[first] + emb[second] @ rotation) / math.sqrt(2)


# A judge learns its whole trace: copying each claim out of the answer is what teaches it to find
# the letters a mark must look up (with its marks alone it learned to check far more slowly). A
# failing mark weighs more because most steps of most answers hold, and a judge that always says
# "+" is what a plain loss finds first.
FAIL_WEIGHT = 2.0


def encode_batch(examples: list[mixture.Example], tok: PreTrainedTokenizerFast):
    """Right-padded (input_ids, labels, weights): loss on the target and EOS, a judge's failing
    marks weighted up.

    Query and target are tokenized apart, as a critic and a decoder meet them: the target starts
    where the model starts writing. No attention mask is needed: padding sits after every real
    token and attention is causal.
    """
    bos, eos, pad = tok.bos_token_id, tok.eos_token_id, tok.pad_token_id
    fail = tok.convert_tokens_to_ids(formats.FAIL_MARK)
    queries = tok([q for q, _ in examples], add_special_tokens=False)["input_ids"]
    targets = tok([t for _, t in examples], add_special_tokens=False)["input_ids"]
    rows, labels, weights = [], [], []
    for (q, _), q_ids, t_ids in zip(examples, queries, targets, strict=True):
        qi = [bos, *q_ids]
        ti = [*t_ids, eos]
        w = [1.0] * len(ti)
        if q.startswith(formats.CRITIQUE_INSTRUCTION):
            w = [FAIL_WEIGHT if i == fail else 1.0 for i in t_ids] + [1.0]
        rows.append(qi + ti)
        target = [i if wt else -100 for i, wt in zip(ti, w, strict=True)]
        labels.append([-100] * len(qi) + target)
        weights.append([0.0] * len(qi) + w)
    T = max(map(len, rows))
    ids = torch.tensor([r + [pad] * (T - len(r)) for r in rows])  # (B, T)
    lab = torch.tensor([r + [-100] * (T - len(r)) for r in labels])  # (B, T)
    wts = torch.tensor([r + [0.0] * (T - len(r)) for r in weights])  # (B, T)
    return ids, lab, wts


def weighted_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor):
    """Mean next-token cross-entropy over labelled positions, each weighted."""
    logits, labels, weights = logits[:, :-1], labels[:, 1:], weights[:, 1:]  # t predicts t+1
    ce = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(),
        labels.reshape(-1),
        ignore_index=-100,
        reduction="none",
    )
    w = weights.reshape(-1) * (labels.reshape(-1) != -100)
    return (ce * w).sum() / w.sum().clamp(min=1e-9)


def sample_own(
    model, tok, cfg: PretrainConfig, rng: random.Random, own: mixture.OwnOutputs, seed: int
):
    """The model answers fresh train inputs at each temperature; the oracle sorts the answers."""
    cases = []
    for task in TASKS.values():
        for _ in range(cfg.own_inputs):
            x, _ = mixture.draw_train(rng, task)
            cases.append((task, x))
    _answer_own(model, tok, cases, cfg.temperatures, seed, own)


def _answer_own(model, tok, cases, temperatures, seed: int, own: mixture.OwnOutputs) -> None:
    """The model answers each (task, input) at each temperature; the oracle sorts the answers."""
    queries = [formats.solve_text(t.instruction, x) for t, x in cases]
    for k, temp in enumerate(temperatures):
        answers = complete(model, tok, queries, temperature=temp, seed=seed + k)
        for (task, x), a in zip(cases, answers, strict=True):
            own.add(task, x, a)
    model.train()


def sample_own_near_default(
    model, tok, cfg: PretrainConfig, rng: random.Random, seed: int
) -> mixture.OwnOutputs:
    """Own answers to train inputs within one of each task's default difficulty."""
    own = mixture.OwnOutputs()
    cases = []
    for task in TASKS.values():
        d0 = task.default_difficulty
        low, high = max(task.min_train_difficulty, d0 - 1), min(task.max_difficulty, d0 + 1)
        for _ in range(cfg.focus_inputs):
            x, _ = mixture.draw_train(rng, task, rng.randint(low, high))
            cases.append((task, x))
    _answer_own(model, tok, cases, cfg.focus_temperatures, seed, own)
    return own


def focus(model, tok, cfg: PretrainConfig, progress: bool = True) -> dict:
    """Phase 3: `cfg.focus_steps` steps of `mixture.PHASE3` on the model's own answers."""
    torch.manual_seed(cfg.seed + 3)
    rng = random.Random(cfg.seed + 3)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.focus_lr, weight_decay=cfg.weight_decay)
    losses: list[float] = []
    rounds: list[dict] = []
    own = mixture.OwnOutputs()
    queue: list[list[mixture.Example]] = []
    t0 = time.perf_counter()
    model.train()
    for step in range(cfg.focus_steps):
        if step % cfg.focus_resample_every == 0:
            ts = time.perf_counter()
            own = sample_own_near_default(model, tok, cfg, rng, seed=cfg.seed * 100 + 50 + step)
            queue.clear()
            rounds.append(
                {"step": step, "own_outputs": own.counts(), "seconds": time.perf_counter() - ts}
            )
            if progress:
                print(f"phase 3 step {step}: own outputs (right, wrong) {own.counts()}", flush=True)
        if not queue:
            queue = _bucketed(rng, mixture.PHASE3, own, cfg)
        p = step / max(1, cfg.focus_steps)
        lr = cfg.focus_lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))
        losses.append(_step(model, opt, queue.pop(), tok, lr))
        if progress and (step + 1) % cfg.log_every == 0:
            _report("phase 3 step", step + 1, cfg.focus_steps, losses, cfg.log_every, t0)
    return {
        "steps": cfg.focus_steps,
        "seconds": round(time.perf_counter() - t0, 1),
        "final_loss": round(sum(losses[-100:]) / max(1, len(losses[-100:])), 4),
        "own_output_rounds": rounds,
    }


def _step(
    model, opt, batch: list[mixture.Example], tok: PreTrainedTokenizerFast, lr: float
) -> float:
    """One optimizer step on `batch` at learning rate `lr`; the batch's loss."""
    ids, lab, wts = encode_batch(batch, tok)
    for g in opt.param_groups:
        g["lr"] = lr
    loss = weighted_loss(model(input_ids=ids).logits, lab, wts)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


def _report(what: str, done: int, total: int, losses: list[float], every: int, t0: float) -> None:
    el = time.perf_counter() - t0
    avg = sum(losses[-every:]) / every
    print(f"{what} {done}/{total} loss {avg:.4f} {el:.0f}s ({done / el:.2f} it/s)", flush=True)


def _bucketed(
    rng, mix, own, cfg: PretrainConfig, n_batches: int = 8
) -> list[list[mixture.Example]]:
    """`n_batches` batches of similar-length examples: padding costs as much compute as tokens."""
    pool = [mixture.sample_example(rng, mix, own) for _ in range(n_batches * cfg.batch_size)]
    pool.sort(key=lambda e: len(e[0]) + len(e[1]))
    batches = [pool[i : i + cfg.batch_size] for i in range(0, len(pool), cfg.batch_size)]
    rng.shuffle(batches)
    return batches


def _snapshot(model, tok, path: Path, step: int) -> None:
    """The weights so far, to measure a long run before it ends (replaced at each snapshot)."""
    model.save_pretrained(path)
    tok.save_pretrained(path)
    (path / "step.txt").write_text(f"{step}\n")


def lr_at(step: int, cfg: PretrainConfig) -> float:
    warm = max(1, int(cfg.warmup * cfg.steps))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    p = (step - warm) / max(1, cfg.steps - warm)
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * p)))


def pretrain(cfg: PretrainConfig, out: Path, progress: bool = True) -> dict:
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = random.Random(cfg.seed)
    tok = build_tokenizer()
    model = build_model(cfg, len(tok))
    if cfg.pair_init == "letters":
        compose_pair_embeddings(model, tok, cfg.seed)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    own_steps = {int(f * cfg.steps): i for i, f in enumerate(cfg.own_at)}
    own: mixture.OwnOutputs | None = None
    mix = mixture.PHASE1
    losses: list[float] = []
    log: list[dict] = []
    queue: list[list[mixture.Example]] = []
    t0 = time.perf_counter()
    model.train()
    for step in range(cfg.steps):
        if step in own_steps:
            ts = time.perf_counter()
            own = mixture.OwnOutputs()  # fresh: the model's current mistakes, not stale ones
            sample_own(model, tok, cfg, rng, own, seed=cfg.seed * 100 + own_steps[step])
            mix = mixture.PHASE2
            queue.clear()
            log.append(
                {"step": step, "own_outputs": own.counts(), "seconds": time.perf_counter() - ts}
            )
            if progress:
                print(f"step {step}: own outputs (right, wrong) {own.counts()}", flush=True)
        if not queue:
            queue = _bucketed(rng, mix, own, cfg)
        losses.append(_step(model, opt, queue.pop(), tok, lr_at(step, cfg)))
        done = step + 1
        if cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and done < cfg.steps:
            _snapshot(model, tok, out / "checkpoint", done)
        if progress and (step + 1) % cfg.log_every == 0:
            _report("step", step + 1, cfg.steps, losses, cfg.log_every, t0)
    train_s = time.perf_counter() - t0
    stats = {
        "config": {k: v for k, v in asdict(cfg).items() if k != "extra"},
        "parameters": n_params,
        "train_seconds": round(train_s, 1),
        "final_loss": round(sum(losses[-100:]) / len(losses[-100:]), 4),
        "loss_curve": [
            round(sum(losses[i : i + 100]) / len(losses[i : i + 100]), 4)
            for i in range(0, len(losses), 100)
        ],
        "own_output_rounds": log,
        "torch_threads": torch.get_num_threads(),
    }
    return finish(model, tok, cfg, stats, out, progress)


def finish(model, tok, cfg: PretrainConfig, stats: dict, out: Path, progress: bool) -> dict:
    """Phase 3 (if any steps), then save, measure, and write the stats and the card."""
    if cfg.focus_steps:
        stats["focus"] = focus(model, tok, cfg, progress)
        stats["config"].update({k: v for k, v in asdict(cfg).items() if k.startswith("focus_")})
        stats["train_seconds"] = round(stats["train_seconds"] + stats["focus"]["seconds"], 1)
    model.generation_config.pad_token_id = 0
    model.generation_config.bos_token_id = 1
    model.generation_config.eos_token_id = 2
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    ts = time.perf_counter()
    stats["eval"] = evaluate_model(model, tok, cfg.eval_n)
    stats["eval_seconds"] = round(time.perf_counter() - ts, 1)
    stats["total_seconds"] = round(stats["train_seconds"] + stats["eval_seconds"], 1)
    (out / "pretrain_stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    write_card(out, stats)
    return stats


def continue_from(src: Path, out: Path, cfg: PretrainConfig, progress: bool = True) -> dict:
    """Phase 3 on a model that phases 1 and 2 saved in `src`, carrying over its stats."""
    from transformers import AutoModelForCausalLM

    stats_file = src / "pretrain_stats.json"
    if not stats_file.is_file():
        raise SystemExit(f"error: no pretrain_stats.json in {src}; --from takes a pretrain output")
    stats = json.loads(stats_file.read_text())
    stats.pop("focus", None)
    torch.set_num_threads(cfg.threads)
    model = AutoModelForCausalLM.from_pretrained(src)
    # Built, not loaded: a loaded tokenizer saves with keys about where it was loaded from.
    return finish(model, build_tokenizer(), cfg, stats, out, progress)


def _default_out() -> Path:
    return Path(__file__).resolve().parent / "reference" / "model"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m softloop.bench.pretrain", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps (default 8000)")
    ap.add_argument(
        "--out", type=Path, default=None, help="output folder (default: the shipped model)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help="a few steps of a tiny model, in seconds")
    ap.add_argument(
        "--card", action="store_true", help="re-measure a saved model and rewrite its card"
    )
    ap.add_argument(
        "--from",
        dest="src",
        type=Path,
        default=None,
        help="run phase 3 only, on a model saved by phases 1 and 2 in this folder",
    )
    ap.add_argument("--focus-steps", type=int, default=None, help="phase 3 steps (default 3000)")
    ap.add_argument(
        "--init-range", type=float, default=None, help="initial weights' std (default 0.1)"
    )
    ap.add_argument(
        "--pair-init",
        choices=PAIR_INITS,
        default=None,
        help="pair tokens' first embeddings: built from their letters (default) or random",
    )
    args = ap.parse_args(argv)
    new_weights = {"--init-range": args.init_range, "--pair-init": args.pair_init}
    fresh = [flag for flag, value in new_weights.items() if value is not None]
    if fresh and (args.card or args.src is not None):
        raise SystemExit(
            f"error: {fresh[0]} sets how a new model's weights start; --card and --from use a "
            "saved model's weights, so leave it out"
        )
    if args.card:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        out = args.out or _default_out()
        stats = json.loads((out / "pretrain_stats.json").read_text())
        model = AutoModelForCausalLM.from_pretrained(out)
        tok = AutoTokenizer.from_pretrained(out)
        stats["eval"] = evaluate_model(model, tok, stats["config"]["eval_n"])
        (out / "pretrain_stats.json").write_text(json.dumps(stats, indent=1) + "\n")
        write_card(out, stats)
        print(f"rewrote {out / 'MODEL_CARD.md'}")
        return
    if args.smoke:
        cfg = PretrainConfig(
            steps=args.steps or 6,
            batch_size=8,
            hidden=32,
            layers=1,
            heads=2,
            mlp=64,
            own_inputs=4,
            eval_n=2,
            seed=args.seed,
            log_every=2,
            checkpoint_every=4,
            focus_steps=args.focus_steps if args.focus_steps is not None else 4,
            focus_inputs=2,
            focus_resample_every=2,
        )
        cfg.own_at = (0.5,)
        out = args.out or Path(tempfile.mkdtemp(prefix="softloop-smoke-"))
    else:
        given = {
            "steps": args.steps,
            "focus_steps": args.focus_steps,
            "init_range": args.init_range,
            "pair_init": args.pair_init,
        }
        try:
            cfg = PretrainConfig(
                seed=args.seed, **{k: v for k, v in given.items() if v is not None}
            )
        except ValueError as err:
            raise SystemExit(f"error: {err}") from None
        out = args.out or _default_out()
    stats = continue_from(args.src, out, cfg) if args.src is not None else pretrain(cfg, out)
    print(
        f"wrote {out} ({stats['parameters']:,} parameters, {stats['total_seconds']:.0f}s, "
        f"final loss {stats['final_loss']})"
    )


if __name__ == "__main__":
    main()
