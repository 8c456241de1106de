"""Loaded by path, it imports a module next to it, as `python sibling_import.py` could."""

from cli_apps import story

graph = story
