"""`python -m tests.durable_app DB WORKFLOW_ID LEDGER OUT [sync|async]`: run (or resume)
the workflow with SyncRunner (the default) or AsyncRunner.

Prints `ready` once imported (the test may kill it from then on) and writes the final
values as JSON to OUT when the run completes.
"""

from __future__ import annotations

import asyncio
import json
import sys

from hypergraph import AsyncRunner, SqliteCheckpointer, SyncRunner

from . import app


def main() -> None:
    db, workflow_id, ledger, out = sys.argv[1:5]
    kind = sys.argv[5] if len(sys.argv) > 5 else "sync"
    print("ready", flush=True)
    app.LEDGER = app.Ledger(ledger)
    cp = SqliteCheckpointer(db)
    values = {"round": 0, "history": []}
    options = {"workflow_id": workflow_id, "event_processors": [app.LEDGER]}
    if kind == "async":
        result = asyncio.run(AsyncRunner(checkpointer=cp).run(app.build(), values, **options))
    else:
        result = SyncRunner(checkpointer=cp).run(app.build(), values, **options)
    with open(out, "w") as f:
        json.dump(result.values, f, sort_keys=True)
    print("done", flush=True)


main()
