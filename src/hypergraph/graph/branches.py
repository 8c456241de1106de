"""Which gate branch each node is confined to: the proof that producers are exclusive.

Two producers of one output are allowed when at most one of them can run (decision
0011). This module shows that from the structure of a plan alone, without running
anything: a node confined to one branch of a gate runs only if the gate chose that
branch.
"""

from __future__ import annotations

from ..engine.plan import Plan
from ..nodes.gate import GateNode


class Branches:
    """Which gate branches each node of `plan` is confined to.

    A node can run only after certain nodes ran. Outside cycles a gated node runs
    only once chosen, so it needs one of its gates; a node needs a producer of each
    input that has no default and cannot be given as a run value. Inside a cycle
    first rounds and seeds break both rules, so nothing is assumed there. A node is
    confined to branch `t` of gate `g` when it needs `t` (or is `t`) and `g` is the
    only gate that controls `t`.

    Only the gated nodes among those needed matter, so that is all `gated[i]` keeps
    (few per node, where the full set would grow with the length of a chain).
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.gated: dict[int, frozenset[int]] = {}

    def gated_needs(self, i: int) -> frozenset[int]:
        """The gated nodes (outside cycles) that must run before `i` can, `i` included."""
        order = [i]
        while order:  # iterative: a long chain must not hit the recursion limit
            j = order[-1]
            if j in self.gated:
                order.pop()
                continue
            todo = [p for group in self._requirements(j) for p in group if p not in self.gated]
            if todo:
                order.extend(todo)
                continue
            order.pop()
            found = {j} if self.plan.controllers[j] and not self.plan.cyclic[j] else set()
            for alternatives in self._requirements(j):
                found |= set.intersection(*(set(self.gated[a]) for a in alternatives))
            self.gated[j] = frozenset(found)
        return self.gated[i]

    def _requirements(self, i: int) -> list[tuple[int, ...]]:
        """Each tuple lists alternatives: at least one of them must have run before `i`."""
        plan = self.plan
        if plan.cyclic[i]:
            return []
        node = plan.nodes[i]
        found: list[tuple[int, ...]] = []
        if plan.controllers[i]:
            found.append(plan.controllers[i])
        for name in node.inputs:
            producers = plan.producers.get(name, ())
            if producers and name not in node.defaults and not plan.seedable(name):
                found.append(producers)
        return found

    def tags(self, i: int, multi: bool = False) -> set[tuple[int, int]]:
        """(gate, target) for each branch that node `i` is confined to, of gates that
        choose one target (or, with `multi`, of multi_target gates)."""
        plan = self.plan
        found = set()
        for t in self.gated_needs(i):
            gates = plan.controllers[t]
            if len(gates) == 1:
                gate = plan.nodes[gates[0]]
                if isinstance(gate, GateNode) and gate.multi_target == multi:
                    found.add((gates[0], t))
        return found

    def exclusive(self, i: int, j: int) -> bool:
        return any(g == h and t != u for g, t in self.tags(i) for h, u in self.tags(j))

    def first_clash(self, producers: tuple[int, ...]) -> tuple[int, int] | None:
        for a, i in enumerate(producers):
            for j in producers[a + 1 :]:
                if not self.exclusive(i, j):
                    return i, j
        return None

    def explain(self, i: int, j: int) -> tuple[str, str]:
        """Why producers `i` and `j` may both run, and the fix that fits."""
        nodes = self.plan.nodes
        route = f"route between '{nodes[i].name}' and '{nodes[j].name}' with @route or @ifelse"
        keep_apart = (
            "make them exclusive: put each behind a different target of one gate, with no "
            "default on the inputs that tie it to its branch"
        )
        tags_i, tags_j = self.tags(i), self.tags(j)
        shared = sorted(tags_i & tags_j)
        if shared:
            gate, target = shared[0]
            return (
                f"Both run after '{nodes[target].name}', the same branch of gate "
                f"'{nodes[gate].name}'.\n",
                keep_apart,
            )
        for g, t in sorted(self.tags(i, multi=True)):
            for h, u in sorted(self.tags(j, multi=True)):
                if g == h and t != u:
                    return (
                        f"Gate '{nodes[g].name}' is multi_target, so it can choose both "
                        f"'{nodes[t].name}' and '{nodes[u].name}'.\n",
                        f"let '{nodes[g].name}' choose one target (multi_target=False)",
                    )
        for free, other in ((i, tags_j), (j, tags_i)):
            if self.tags(free) or not other:
                continue
            reason = self._unconfined(free)
            return (f"'{nodes[free].name}' {reason}.\n", keep_apart)
        if tags_i and tags_j:
            return ("They lie on branches of different gates, which can both be taken.\n", route)
        return ("", route)

    def _unconfined(self, i: int) -> str:
        plan = self.plan
        node = plan.nodes[i]
        for name in node.inputs:
            producers = plan.producers.get(name, ())
            if producers and name in node.defaults:
                return (
                    f"can run on any branch: its input '{name}' has a default, so it runs "
                    f"even when '{plan.nodes[producers[0]].name}' does not"
                )
        if any(len(plan.controllers[t]) > 1 for t in self.gated_needs(i)):
            return "can run on more than one branch: a node before it is chosen by two gates"
        return "is not confined to one branch of a gate: it can run whichever target is chosen"
