"""Helpers for the serve tests: a real uvicorn on a loopback port, and chat graphs that
stream from the stand-in LLM server through the real `openai` SDK."""
