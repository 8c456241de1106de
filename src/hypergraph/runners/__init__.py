"""Drivers of the scheduler: SyncRunner and AsyncRunner."""
