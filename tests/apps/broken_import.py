"""An app module whose import fails: the CLI must say where, without a traceback."""

from hypergraph import Graph

graph = Graph([])
raise ValueError("settings file missing")
