"""The self-correction graph, the SQL store, the refiner and the CLI.

Names load on first use: the CLI imports `agent.cli` for every command, and only the commands
that run a model should pay for importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from softloop.prompts.lazy import lazy_exports

if TYPE_CHECKING:
    from softloop.agent.graph import FixedPrompts, LoopConfig, LoopState, WriteBehind, build_graph
    from softloop.agent.refine import EvalSets, RefineConfig, RefineOutcome, Refiner
    from softloop.agent.registry import PromptRegistry
    from softloop.agent.setup import Setup, open_setup
    from softloop.agent.store import Store

_LAZY = {
    "FixedPrompts": "softloop.agent.graph",
    "LoopConfig": "softloop.agent.graph",
    "LoopState": "softloop.agent.graph",
    "build_graph": "softloop.agent.graph",
    "EvalSets": "softloop.agent.refine",
    "RefineConfig": "softloop.agent.refine",
    "RefineOutcome": "softloop.agent.refine",
    "Refiner": "softloop.agent.refine",
    "PromptRegistry": "softloop.agent.registry",
    "Setup": "softloop.agent.setup",
    "open_setup": "softloop.agent.setup",
    "Store": "softloop.agent.store",
    "WriteBehind": "softloop.agent.graph",
}


__getattr__ = lazy_exports("softloop.agent", _LAZY, globals())


__all__ = [
    "EvalSets",
    "FixedPrompts",
    "LoopConfig",
    "LoopState",
    "PromptRegistry",
    "RefineConfig",
    "RefineOutcome",
    "Refiner",
    "Setup",
    "Store",
    "WriteBehind",
    "build_graph",
    "open_setup",
]
