"""One run in progress, shared by both runners: options, outcomes, nesting, map items, results."""
