"""Optional integrations, each behind its own extra and loaded only when used.

- `hypergraph.integrations.otel.OpenTelemetryProcessor` (extra `otel`): spans per run
  and per node execution.
- `hypergraph.integrations.progress.ProgressProcessor` (extra `progress`): the display
  behind `progress=True`.

Importing `hypergraph` never imports these, nor their third-party packages.
"""
