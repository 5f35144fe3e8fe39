"""The self-correction graph, the SQL store, the refiner and the CLI.

Names load on first use: the CLI imports `agent.cli` for every command, and only the commands
that run a model should pay for importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prompts.lazy import lazy_exports

if TYPE_CHECKING:
    from agent.graph import FixedPrompts, LoopConfig, LoopState, WriteBehind, build_graph
    from agent.refine import EvalSets, RefineConfig, RefineOutcome, Refiner
    from agent.registry import PromptRegistry
    from agent.setup import Setup, open_setup
    from agent.store import Store

_LAZY = {
    "FixedPrompts": "agent.graph",
    "LoopConfig": "agent.graph",
    "LoopState": "agent.graph",
    "build_graph": "agent.graph",
    "EvalSets": "agent.refine",
    "RefineConfig": "agent.refine",
    "RefineOutcome": "agent.refine",
    "Refiner": "agent.refine",
    "PromptRegistry": "agent.registry",
    "Setup": "agent.setup",
    "open_setup": "agent.setup",
    "Store": "agent.store",
    "WriteBehind": "agent.graph",
}


__getattr__ = lazy_exports("agent", _LAZY, globals())


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
