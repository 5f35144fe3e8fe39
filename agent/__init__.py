"""The self-correction graph, the SQL store, the refiner and the CLI."""

from agent.graph import FixedPrompts, LoopConfig, LoopState, build_graph
from agent.setup import Setup, open_setup
from agent.store import Store

__all__ = [
    "FixedPrompts",
    "LoopConfig",
    "LoopState",
    "Setup",
    "Store",
    "build_graph",
    "open_setup",
]
