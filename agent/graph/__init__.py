"""The generate → critique → revise loop as a LangGraph graph."""

from agent.graph.config import LoopConfig
from agent.graph.graph import build_graph
from agent.graph.nodes import Oracle
from agent.graph.prompt_source import FixedPrompts, PromptRef, PromptSelection, PromptSource
from agent.graph.recording import WriteBehind
from agent.graph.state import Attempt, LoopState

__all__ = [
    "Attempt",
    "FixedPrompts",
    "LoopConfig",
    "LoopState",
    "Oracle",
    "PromptRef",
    "PromptSelection",
    "PromptSource",
    "WriteBehind",
    "build_graph",
]
