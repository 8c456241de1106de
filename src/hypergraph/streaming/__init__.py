"""Stream delivery: bounded channels from a run to its iter() consumer, and the handles."""
