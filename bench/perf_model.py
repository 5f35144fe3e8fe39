"""`bench.perf` on one model: scoring, generation, mixed requests and training, both sides.

Every section times softloop (prefix caches on, as shipped), softloop's plain path (no cache: the
"never slower" check) and PEFT, interleaved; generated answers are compared with the plain greedy
reference. Returns the ratios and everything they were computed from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from softloop.bench.greedy_reference import greedy_ids
from softloop.bench.peft_peer import PeftPeer
from softloop.bench.perf_setup import (
    PerfConfig,
    Workload,
    build_lm,
    clock_of,
    describe,
    interleaved,
    med,
    peak_bytes,
    workload,
)
from softloop.prompts import FrozenLM, SoftPrompt, TrainConfig, train_prompt
from softloop.prompts.batch_order import BatchOrder
from softloop.prompts.prefix_cache import PrefixCacheConfig


class Bench:
    """One model, its plain twin, the PEFT peer and the requests, for one `PerfConfig`."""

    def __init__(self, name: str, cfg: PerfConfig, first: bool) -> None:
        self.cfg, self.first = cfg, first
        self.reps = cfg.reps if first else cfg.big_reps
        self.clock = clock_of(cfg.clock)
        self.lm = build_lm(name, cfg.seed)
        self.plain = FrozenLM(
            self.lm.model,
            self.lm.tokenizer,
            model_id=name,
            prompt_after_bos=False,
            prefix_config=PrefixCacheConfig(auto=False),
        )
        self.w = workload(self.lm, cfg)
        for p in self.w.prompts:
            p.weight.requires_grad_(False)  # inference: no autograd bookkeeping on either side
        self.peer = PeftPeer(self.lm, self.w.prompts, repaired=True)

    def run(self, log: Callable[[str], None]) -> dict[str, Any]:
        """`{"ratios", "raw", "model"}` for this model."""
        name, cfg, w, lm = self.lm.model_id, self.cfg, self.w, self.lm
        log(f"{name}: plain greedy reference answers")
        p0 = w.prompts[0]
        # Every generation runs exactly `new_tokens` steps (EOS held back until then), on both
        # sides and in the reference: what is timed is the same amount of decoding.
        n = cfg.new_tokens
        x = w.candidates[0]
        [single] = greedy_ids(lm, [x], [p0], n, min_new_tokens=n)
        mixed = greedy_ids(lm, w.mixed_inputs, w.mixed_prompts, n, min_new_tokens=n)
        raw: dict[str, Any] = {"model": describe(lm)}
        log(f"{name}: scoring")
        raw["score"] = self.scoring(x)
        log(f"{name}: one generation")
        raw["generate"] = self.one_generation(x, single)
        log(f"{name}: {cfg.requests} requests over {cfg.n_prompts} prompts")
        raw["mixed"] = self.mixed([lm.decode(ids) for ids in mixed])
        log(f"{name}: training")
        raw["train"] = self.training()
        return {"ratios": ratios_of(raw), "raw": raw, "model": raw["model"]}

    def scoring(self, x: str) -> dict[str, Any]:
        lm, plain, peer, p0, t = self.lm, self.plain, self.peer, self.w.prompts[0], self.w.target
        xs, ts = [x] * self.cfg.score_batch, [t] * self.cfg.score_batch
        times = interleaved(
            {
                "softloop_1": lambda: lm.score([x], [t], p0),
                "plain_1": lambda: plain.score([x], [t], p0),
                "peft_1": lambda: peer.score([x], [t], p0),
                "softloop_batch": lambda: lm.score(xs, ts, p0),
                "plain_batch": lambda: plain.score(xs, ts, p0),
                "peft_batch": lambda: peer.score(xs, ts, p0),
            },
            self.reps,
            self.clock,
        )
        diff = (lm.score([x], [t], p0) - peer.score([x], [t], p0)).abs().max()
        return {**_medians(times), "batch": len(xs), "max_abs_diff_vs_peft": float(diff)}

    def one_generation(self, x: str, want_ids: list[int]) -> dict[str, Any]:
        lm, plain, peer, p0 = self.lm, self.plain, self.peer, self.w.prompts[0]
        n, want = self.cfg.new_tokens, self.lm.decode(want_ids)
        outs: dict[str, str] = {}

        def side(name: str) -> Callable[[], None]:
            def run() -> None:
                if name in ("softloop", "plain"):
                    side = lm if name == "softloop" else plain
                    outs[name] = side.generate([x], p0, n, min_new_tokens=n)[0]
                else:
                    peer.set_repaired(name == "peft")
                    outs[name] = lm.decode(peer.generate([x], p0, n, min_new_tokens=n)[0])
                    peer.set_repaired(True)

            return run

        sides = ("softloop", "plain", "peft", "peft_unrepaired")
        times = interleaved({s: side(s) for s in sides}, self.reps, self.clock)
        return {
            **_medians(times),
            "new_tokens": len(want_ids),
            "matches_reference": {s: out == want for s, out in outs.items()},
        }

    def mixed(self, want: list[str]) -> dict[str, Any]:
        lm, plain, peer, w, n = self.lm, self.plain, self.peer, self.w, self.cfg.new_tokens
        answers: dict[str, list[str]] = {}
        serve = {
            "softloop": lambda: lm.generate(w.mixed_inputs, w.mixed_prompts, n, min_new_tokens=n),
            "plain": lambda: plain.generate(w.mixed_inputs, w.mixed_prompts, n, min_new_tokens=n),
            "grouped": lambda: _grouped(peer, w, n),
            "single": lambda: _single(peer, w, n),
        }
        # One request per prompt: builds every prefix cache and PEFT's generation settings.
        k = len(w.prompts)
        one_each = dataclasses.replace(
            w, mixed_inputs=w.mixed_inputs[:k], mixed_prompts=w.mixed_prompts[:k]
        )
        warm = {
            "softloop": lambda: lm.generate(one_each.mixed_inputs, one_each.mixed_prompts, 1),
            "plain": lambda: plain.generate(one_each.mixed_inputs, one_each.mixed_prompts, 1),
            "grouped": lambda: _grouped(peer, one_each, 1),
            "single": lambda: _single(peer, one_each, 1),
        }

        def keep(name: str) -> Callable[[], None]:
            return lambda: answers.__setitem__(name, serve[name]())

        times = interleaved({s: keep(s) for s in serve}, self.reps, self.clock, warm)
        out: dict[str, Any] = _medians(times)
        peer.set_repaired(False)  # PEFT as it ships: once, slow, for the record
        everywhere = self.first or self.cfg.unrepaired_single_everywhere
        for s in ("grouped", "single") if everywhere else ("grouped",):
            t0 = self.clock()
            answers[f"{s}_unrepaired"] = serve[s]()
            out[f"{s}_unrepaired"] = self.clock() - t0
        peer.set_repaired(True)
        out["requests"], out["prompts"] = len(w.mixed_inputs), len(w.prompts)
        out["matches_reference"] = {
            s: sum(a == b for a, b in zip(got, want, strict=True)) for s, got in answers.items()
        }
        return out

    def training(self) -> dict[str, Any]:
        """Examples/s of both training loops, and one step's peak memory on the same batch."""
        lm, peer, w, cfg = self.lm, self.peer, self.w, self.cfg
        prompt, batch = w.prompts[0], cfg.train_batch
        steps = cfg.train_steps if self.first else cfg.big_train_steps

        def softloop(n: int, bucket: bool, bf16: bool = False) -> Callable[[], None]:
            config = TrainConfig(
                steps=n,
                batch_size=batch,
                warmup_steps=0,
                eval_every=10**6,
                progress=False,
                bucket_by_length=bucket,
                bf16=bf16,
            )

            def run() -> None:
                train_prompt(lm, _copy(prompt), w.train, config=config)

            return run

        def peft(n: int) -> Callable[[], None]:
            def run() -> None:
                optimiser = peer.trainer(prompt)
                order = BatchOrder(len(w.train), batch, torch.Generator().manual_seed(0))
                for _ in range(n):
                    chosen = [w.train[i] for i in order.next()]
                    peer.train_step(
                        optimiser, [e.input for e in chosen], [e.output for e in chosen]
                    )

            return run

        variants = {
            "softloop": lambda n: softloop(n, bucket=True),
            "softloop_same_batches": lambda n: softloop(n, bucket=False),
            "softloop_bf16": lambda n: softloop(n, bucket=True, bf16=True),
            "peft": peft,
        }
        times = interleaved(
            {k: v(steps) for k, v in variants.items()},
            self.reps,
            self.clock,
            warm={k: v(1) for k, v in variants.items()},
        )
        out: dict[str, Any] = {f"{k}_eps": steps * batch / med(v) for k, v in times.items()}
        out["steps"], out["batch"] = steps, batch
        out.update(_peak_memory(lm, peer, prompt, w.train[:batch]))
        return out


def ratios_of(raw: dict[str, Any]) -> dict[str, float]:
    score, gen, mixed, train = raw["score"], raw["generate"], raw["mixed"], raw["train"]
    raw["unrepaired_peft"] = {
        "generate_latency": gen["peft_unrepaired"] / gen["softloop"],
        **{
            f"mixed_vs_{s}": mixed[f"{s}_unrepaired"] / mixed["softloop"]
            for s in ("grouped", "single")
            if f"{s}_unrepaired" in mixed
        },
    }
    raw["cached_vs_plain"] = {
        "score_1": score["plain_1"] / score["softloop_1"],
        "score_batch": score["plain_batch"] / score["softloop_batch"],
        "generate": gen["plain"] / gen["softloop"],
        "mixed": mixed["plain"] / mixed["softloop"],
    }
    return {
        "train_throughput": train["softloop_eps"] / train["peft_eps"],
        "score_latency": score["peft_1"] / score["softloop_1"],
        "generate_latency": gen["peft"] / gen["softloop"],
        "mixed_vs_grouped": mixed["grouped"] / mixed["softloop"],
        "mixed_vs_single": mixed["single"] / mixed["softloop"],
        "train_peak_memory": train["softloop_peak_bytes"] / train["peft_peak_bytes"],
    }


def _peak_memory(
    lm: FrozenLM, peer: PeftPeer, prompt: SoftPrompt, examples: list
) -> dict[str, int]:
    inputs, targets = [e.input for e in examples], [e.output for e in examples]
    trained = _copy(prompt)
    optimiser = torch.optim.AdamW([trained.weight], lr=1e-2)

    def softloop_step() -> None:
        loss = lm.loss(inputs, targets, trained)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    peft_optimiser = peer.trainer(prompt)
    softloop_step()  # the optimisers' state exists before either side is measured
    peer.train_step(peft_optimiser, inputs, targets)
    return {
        "softloop_peak_bytes": peak_bytes(softloop_step),
        "peft_peak_bytes": peak_bytes(lambda: peer.train_step(peft_optimiser, inputs, targets)),
    }


def _copy(prompt: SoftPrompt) -> SoftPrompt:
    copy = SoftPrompt(prompt.weight.detach().clone(), prompt.manifest)
    copy.weight.requires_grad_(True)
    return copy


def _grouped(peer: PeftPeer, w: Workload, new_tokens: int) -> list[str]:
    """PEFT serving the mixed requests one adapter at a time, a batch per prompt."""
    out = [""] * len(w.mixed_inputs)
    for prompt in w.prompts:
        rows = [i for i, p in enumerate(w.mixed_prompts) if p is prompt]
        if rows:
            ids = peer.generate([w.mixed_inputs[i] for i in rows], prompt, new_tokens, new_tokens)
            for i, new in zip(rows, ids, strict=True):
                out[i] = peer.lm.decode(new)
    return out


def _single(peer: PeftPeer, w: Workload, new_tokens: int) -> list[str]:
    return [
        peer.lm.decode(peer.generate([x], p, new_tokens, new_tokens)[0])
        for x, p in zip(w.mixed_inputs, w.mixed_prompts, strict=True)
    ]


def _medians(times: dict[str, list[float]]) -> dict[str, Any]:
    return {**{k: med(v) for k, v in times.items()}, "seconds": times}
