"""Graph fixtures for the parity, property and eagerness tests.

Each module holds plain node functions for one family of scenarios. Graphs whose
nodes record calls (to prove what ran and what did not) are built by factories that
take the list to record into, so no state is shared between tests or runs.
"""
