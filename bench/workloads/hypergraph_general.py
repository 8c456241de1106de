"""hypergraph with the straight-line path turned off: every run takes the general path.

The same workloads as ``hypergraph.py``, so the table shows side by side what the
straight-line path (decision 0035) buys and that the general path did not get slower.
Turning it off uses the switch the parity tests use (``hypergraph.runners.straight``).
"""

from __future__ import annotations

from hypergraph.runners import straight
from workloads.hypergraph import IMPORT, WORKLOADS

straight.enabled = False

__all__ = ["IMPORT", "WORKLOADS"]
