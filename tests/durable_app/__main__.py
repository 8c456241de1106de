"""`python -m tests.durable_app DB WORKFLOW_ID LEDGER OUT`: run (or resume) the workflow.

Prints `ready` once imported (the test may kill it from then on) and writes the final
values as JSON to OUT when the run completes.
"""

from __future__ import annotations

import json
import sys

from hypergraph import SqliteCheckpointer, SyncRunner

from . import app


def main() -> None:
    db, workflow_id, ledger, out = sys.argv[1:5]
    print("ready", flush=True)
    app.LEDGER = app.Ledger(ledger)
    runner = SyncRunner(checkpointer=SqliteCheckpointer(db))
    result = runner.run(
        app.build(),
        {"round": 0, "history": []},
        workflow_id=workflow_id,
        event_processors=[app.LEDGER],
    )
    with open(out, "w") as f:
        json.dump(result.values, f, sort_keys=True)
    print("done", flush=True)


main()
