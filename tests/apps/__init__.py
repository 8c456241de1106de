"""Small programs the command-line and picture tests use: graphs to run, a random graph maker."""
