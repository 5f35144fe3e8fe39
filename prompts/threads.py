"""How many CPU threads torch should use for a model of this size.

A tiny model's matrix products are far too small to split across threads: each op's parallel
region costs more to start than it saves, and when another process holds a core the op waits
for a descheduled thread, so one thread is both faster and steadier on a busy machine. The same
holds up to small instruct models (a hundred-odd million parameters, a few hundred wide): their
ops are still short enough that a second thread gains little on a free core and loses much on a
busy one. Large models still want every core; `$SOFTLOOP_TORCH_THREADS` overrides either way.
"""

from __future__ import annotations

import os

import torch

THREADS_ENV = "SOFTLOOP_TORCH_THREADS"
# Below this many parameters one thread is the default on CPU: tiny models (ops of a few
# thousand FLOPs) and small instruct models of a few hundred hidden units alike.
SMALL_MODEL_PARAMS = 200_000_000


def fit_threads(model: torch.nn.Module) -> int:
    """Set torch's intra-op threads for `model` on CPU and return the number in use.

    `$SOFTLOOP_TORCH_THREADS` wins when set. Otherwise a small model on CPU gets one thread and
    anything else keeps torch's default. Called by softloop's entry points (CLI, demo,
    benchmarks), not by the library on import, because it changes the whole process.
    """
    wanted = os.environ.get(THREADS_ENV)
    if wanted:
        torch.set_num_threads(max(1, int(wanted)))
    else:
        on_cpu = all(p.device.type == "cpu" for p in model.parameters())
        small = sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMS
        if on_cpu and small:
            torch.set_num_threads(1)
    return torch.get_num_threads()
