"""HyperNode: the shape every node shares (name, inputs, outputs) and renaming.

Renames never mutate: each returns a new node, so one function can appear in
several graphs, or twice in one graph, under different names.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Self

from .._names import quoted, suggest
from ..errors import GraphConfigError, RenameError
from .policy import NodePolicy


class HyperNode:
    """Base of all nodes. Subclasses set the fields in `__init__`."""

    name: str
    inputs: tuple[str, ...]
    """Input names, in parameter order (after renames; the context parameter excluded)."""
    outputs: tuple[str, ...]
    defaults: dict[str, Any]
    """Default values by input name."""
    is_async: bool = False
    is_generator: bool = False
    policy: NodePolicy | None = None
    """Retry, timeout and cache settings (function nodes only)."""
    copied_defaults: frozenset[str] = frozenset()
    """Inputs whose default is mutable, so each use gets its own copy."""
    _params: tuple[str, ...]
    """The underlying parameter name of each input, aligned with `inputs`."""

    def input_types(self) -> dict[str, list[tuple[str, Any]]]:
        """For each input, who reads it and with which annotation, for `strict_types`.

        A reader is a node path (`inner/parse` inside a nested graph); a missing
        annotation is `inspect.Parameter.empty`. Nodes that cannot say return {}.
        """
        return {}

    def output_types(self) -> dict[str, list[tuple[str, Any]]]:
        """For each output, who writes it and with which annotation (as `input_types`)."""
        return {}

    def with_name(self, name: str) -> Self:
        """A copy of this node called `name`."""
        check_node_name(name, RenameError)
        clone = copy.copy(self)
        clone.name = name
        return clone

    def with_inputs(self, mapping: Mapping[str, str] | None = None, /, **renames: str) -> Self:
        """A copy whose inputs are renamed: `n.with_inputs(text="doc")` reads `doc`."""
        clone = copy.copy(self)
        clone._rename_inputs(_merge(mapping, renames))
        return clone

    def with_outputs(self, mapping: Mapping[str, str] | None = None, /, **renames: str) -> Self:
        """A copy whose outputs are renamed: `n.with_outputs(doc="html_doc")`."""
        changes = _merge(mapping, renames)
        clone = copy.copy(self)
        clone.outputs = _renamed(self, "output", self.outputs, changes)
        return clone

    rename_inputs = with_inputs
    rename_outputs = with_outputs

    def _rename_inputs(self, changes: dict[str, str]) -> None:
        """Rename in place; only ever called on a fresh copy or during `__init__`."""
        self.inputs = _renamed(self, "input", self.inputs, changes)
        self.defaults = {changes.get(k, k): v for k, v in self.defaults.items()}

    def __repr__(self) -> str:
        kind = type(self).__name__
        return f"{kind}('{self.name}', inputs={self.inputs!r}, outputs={self.outputs!r})"


def check_node_name(name: object, error: type[GraphConfigError] = GraphConfigError) -> None:
    """Refuse names that cannot identify a node: empty, not a string, or holding a '/'."""
    if not isinstance(name, str) or not name:
        raise error(f"A node name must be a non-empty string, got {name!r}.")
    if "/" in name:
        # Event paths and result.partial keys join node names with '/': 'a/b' would
        # read as node 'b' inside a graph 'a'.
        raise error(
            f"Node name {name!r} contains '/', which separates the levels of a node's "
            "path in events and result.partial ('outer/inner/node').\n"
            f"How to fix: use another separator, e.g. {name.replace('/', '_')!r}."
        )


def _merge(mapping: Mapping[str, str] | None, renames: dict[str, str]) -> dict[str, str]:
    changes = dict(mapping or {})
    changes.update(renames)
    return changes


def _renamed(
    node: HyperNode, kind: str, current: tuple[str, ...], changes: dict[str, str]
) -> tuple[str, ...]:
    for old, new in changes.items():
        if old not in current:
            raise RenameError(
                f"Cannot rename {kind} '{old}' of node '{node.name}': it has no such {kind}."
                f"{suggest(old, current)}\nIts {kind}s are: {quoted(current)}."
            )
        if not isinstance(new, str) or not new:
            raise RenameError(
                f"Cannot rename {kind} '{old}' of node '{node.name}' to {new!r}: "
                "a name must be a non-empty string."
            )
    result = tuple(changes.get(name, name) for name in current)
    if len(set(result)) != len(result):
        dupes = sorted({n for n in result if result.count(n) > 1})
        raise RenameError(
            f"Renaming {kind}s of node '{node.name}' would give two {kind}s the name "
            f"{quoted(dupes)}.\nHow to fix: choose a name the node does not already use."
        )
    return result
