"""The loop for LangGraph's server, with the reference world as the model it serves by default.

The repository's `langgraph.json` names `softloop.bench.server:graph`, so `langgraph dev` in a
checkout serves the embedded reference model and its tasks with no setting at all; set
`SOFTLOOP_MODEL` to serve another model, `SOFTLOOP_DATABASE_URL` to share a store. The library
builds the factory (`softloop.agent.server`); only this composition root knows the world.

Importing this module loads the model and opens the store: it is the server's entry point.
"""

from __future__ import annotations

from softloop.agent.server import LoopService, make_graph
from softloop.bench.world import reference_world

graph = make_graph(LoopService.from_settings(reference_world))

__all__ = ["graph"]
