"""Run one workload for one library and print one JSON line: ``python -m workloads LIB ID``.

The driver (``bench/run.py``) starts this in a fresh process for every measurement, with
``bench/`` as the working directory and the peers' virtual environment's interpreter. The
line always comes out, whatever happens: ``status`` is ``ok`` (with ``value``), ``na``
(the library cannot express the workload) or ``error`` (it failed, e.g. hypergraph's
core lacks something yet); ``reason`` says why in the last two cases.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback
from typing import Any

from workloads import spec
from workloads.harness import NotApplicable


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0] if text else type(exc).__name__


def measure(library: str, workload_id: str, *, quick: bool) -> dict[str, Any]:
    """Import the library's workload module and run one workload, never raising."""
    workload = spec.BY_ID[workload_id]
    line: dict[str, Any] = {
        "library": library,
        "workload": workload_id,
        "metric": workload.unit,
        "params": workload.sizes(quick=quick),
    }
    try:
        module = importlib.import_module(f"workloads.{library}")
        reason = getattr(module, "NOT_APPLICABLE", {}).get(workload_id)
        if reason is not None:
            raise NotApplicable(reason)
        if workload_id not in module.WORKLOADS:
            raise NotApplicable("not measured for this library (hypergraph and plain Python only)")
        result = module.WORKLOADS[workload_id](line["params"])
    except NotApplicable as exc:
        return {**line, "status": "na", "reason": str(exc)}
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return {**line, "status": "error", "reason": _one_line(exc)}
    return {
        **line,
        "status": "ok",
        "value": result.value,
        "extra": result.extra,
        "repeat": result.repeat,
        "notes": result.notes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("library", choices=spec.LIBRARIES)
    parser.add_argument("workload", choices=list(spec.BY_ID))
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for checks")
    args = parser.parse_args()
    print(json.dumps(measure(args.library, args.workload, quick=args.quick)), flush=True)


if __name__ == "__main__":
    main()
