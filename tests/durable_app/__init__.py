"""A long-running durable graph for the kill test (run as `python -m tests.durable_app`)."""
