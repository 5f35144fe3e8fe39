"""The generate → critique → revise loop as a LangGraph graph."""

from softloop.agent.graph.config import LoopConfig
from softloop.agent.graph.graph import build_graph
from softloop.agent.graph.nodes import Oracle
from softloop.agent.graph.prompt_source import (
    FixedPrompts,
    PromptRef,
    PromptSelection,
    PromptSource,
)
from softloop.agent.graph.recording import WriteBehind
from softloop.agent.graph.state import Attempt, LoopState

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
