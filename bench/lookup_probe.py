"""Can a fresh model learn the bare edge check? `python -m softloop.bench.lookup_probe`.

The judge of the lookup tasks must answer, for each claimed hop, "is this pair of nodes an edge
of the graph?", and the solver's mistakes are near misses: two nodes with a common neighbour.
This probe asks exactly that question of a fresh causal LM, and nothing else: the input is a
triangle-task graph and a pair of its nodes, `chk ab cd bc?ad`, the target `+` or `-`, half the
pairs real edges and half near misses. It prints held-out accuracy as training goes, so a model
shape, initialisation and learning rate at which lookups are learned can be found in minutes
before a pre-training run is spent on them.

By default every character is a token and edges and the asked pair are written in either order
(`ab` or `ba`). `--pairs` spells every two-letter group (an edge, the asked pair) as one token of
its own and writes edges in sorted order, as the reference tasks do, so that the check is finding
the same token earlier in the input (`--unsorted`: pair tokens, either order, so `ab` must be
found as `ab` or `ba`).
"""

from __future__ import annotations

import argparse
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from softloop.bench import graphs
from softloop.bench.pretrain import PretrainConfig, build_model
from softloop.bench.tasks import get_task
from softloop.bench.tokenizer import CHARS, PAIRS, SPLIT

_PAIR = re.compile(SPLIT, re.S)


@dataclass(frozen=True)
class ProbeConfig:
    steps: int = 2000
    batch_size: int = 64
    lr: float = 3e-3
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    init_range: float = 0.02
    pairs: bool = False  # one token per two-letter group
    sort_pairs: bool = True  # with `pairs`: every edge and the asked pair in sorted order
    nodes: tuple[int, int] = (4, 7)  # graph sizes drawn
    eval_every: int = 250
    seed: int = 0


def vocabulary(pairs: bool) -> dict[str, int]:
    """`<pad>` 0, `<bos>` 1, then printable characters, then (with `pairs`) 676 letter pairs."""
    vocab = {"<pad>": 0, "<bos>": 1}
    for c in CHARS:
        vocab[c] = len(vocab)
    if pairs:
        for p in PAIRS:
            vocab[p] = len(vocab)
    return vocab


def tokens(text: str, pairs: bool) -> list[str]:
    return _PAIR.findall(text) if pairs else list(text)


def example(rng: random.Random, cfg: ProbeConfig) -> tuple[str, bool]:
    """(`chk {graph}?{pair}`, whether the pair is an edge); negatives share a neighbour."""
    task = get_task("triangle")
    while True:
        text, _ = task.generate(rng, rng.randint(*cfg.nodes))
        _, edges, _ = graphs.parse(text)
        adj: dict[str, set[str]] = {}
        for e in edges:
            a, b = sorted(e)
            adj.setdefault(a, set()).add(b)
            adj.setdefault(b, set()).add(a)
        is_edge = rng.random() < 0.5
        if is_edge:
            pair = list(rng.choice(sorted(tuple(sorted(e)) for e in edges)))
        else:
            near = sorted(
                (a, b)
                for a in adj
                for b in adj
                if a < b and frozenset((a, b)) not in edges and adj[a] & adj[b]
            )
            if not near:
                continue
            pair = list(rng.choice(near))
        if not (cfg.pairs and cfg.sort_pairs):  # the graph is drawn sorted: unsort it
            text = " ".join(e if rng.random() < 0.5 else e[::-1] for e in text.split())
            rng.shuffle(pair)
        return f"chk {text}?{''.join(pair)}", is_edge


def _encode(
    batch: list[tuple[str, bool]], vocab: dict[str, int], pairs: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [[1] + [vocab[t] for t in tokens(q, pairs)] for q, _ in batch]
    width = max(map(len, rows))
    ids = torch.tensor([[0] * (width - len(r)) + r for r in rows])  # left-padded: last is the pair
    return ids, (ids != 0).long()


def run(cfg: ProbeConfig, log: Callable[[str], None] = print) -> list[tuple[int, float]]:
    """Train; `(step, held-out accuracy)` at every evaluation."""
    torch.manual_seed(cfg.seed)
    vocab = vocabulary(cfg.pairs)
    # The recipe's model (`bench.pretrain.build_model`) at the probe's shape and spread.
    shape = PretrainConfig(
        hidden=cfg.hidden,
        layers=cfg.layers,
        heads=cfg.heads,
        mlp=3 * cfg.hidden,
        init_range=cfg.init_range,
    )
    model = build_model(shape, len(vocab))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    rng, held_rng = random.Random(cfg.seed + 1), random.Random(cfg.seed + 99)
    held = [example(held_rng, cfg) for _ in range(500)]
    yes, no = vocab["+"], vocab["-"]
    curve: list[tuple[int, float]] = []
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        batch = [example(rng, cfg) for _ in range(cfg.batch_size)]
        ids, mask = _encode(batch, vocab, cfg.pairs)
        warm = min(1.0, (step + 1) / 100)
        lr = cfg.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / cfg.steps)))
        for group in opt.param_groups:
            group["lr"] = lr
        logits = model(input_ids=ids, attention_mask=mask).logits[:, -1]
        target = torch.tensor([yes if e else no for _, e in batch])
        loss = torch.nn.functional.cross_entropy(logits, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            with torch.no_grad():
                ids, mask = _encode(held, vocab, cfg.pairs)
                out = model(input_ids=ids, attention_mask=mask).logits[:, -1]
                said_yes = (out[:, yes] > out[:, no]).tolist()
            acc = sum(s == e for s, (_, e) in zip(said_yes, held, strict=True)) / len(held)
            curve.append((step + 1, acc))
            el = time.perf_counter() - t0
            log(
                f"step {step + 1}/{cfg.steps} loss {loss.item():.3f} "
                f"held-out accuracy {acc:.3f} ({el:.0f}s)"
            )
    return curve


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m softloop.bench.lookup_probe", description=__doc__.split("\n")[0]
    )
    defaults = ProbeConfig()
    ap.add_argument("--steps", type=int, default=defaults.steps)
    ap.add_argument("--lr", type=float, default=defaults.lr, help="peak learning rate")
    ap.add_argument("--hidden", type=int, default=defaults.hidden)
    ap.add_argument("--layers", type=int, default=defaults.layers)
    ap.add_argument("--heads", type=int, default=defaults.heads)
    ap.add_argument("--init-range", type=float, default=defaults.init_range, help="weight init std")
    ap.add_argument("--pairs", action="store_true", help="one token per two-letter group")
    ap.add_argument(
        "--unsorted",
        action="store_true",
        help="with --pairs: edges and the asked pair in either order, not sorted",
    )
    ap.add_argument("--seed", type=int, default=defaults.seed)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = ProbeConfig(
        steps=args.steps,
        lr=args.lr,
        hidden=args.hidden,
        layers=args.layers,
        heads=args.heads,
        init_range=args.init_range,
        pairs=args.pairs,
        sort_pairs=not args.unsorted,
        seed=args.seed,
        eval_every=max(1, min(250, args.steps)),
    )
    print(f"lookup probe: {cfg}", flush=True)
    run(cfg, log=lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
