"""The self-correction graph, the SQL store, the refiner and the CLI."""

from agent.graph import FixedPrompts, LoopConfig, LoopState, build_graph
from agent.store import Store

__all__ = ["FixedPrompts", "LoopConfig", "LoopState", "Store", "build_graph"]
