"""Project commands that work on a fresh machine with only python3.

    python3 dev.py demo     # the streaming demo (offline stand-in model unless an API key is set)
    python3 dev.py check    # format, lint, types, tests: what CI runs
    python3 dev.py serve    # the chat page on http://127.0.0.1:8000, offline stand-in model

The first call creates `.venv` and installs the project with its test and dev extras;
later calls reinstall only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def _ensure_env() -> None:
    stamp = VENV / ".installed"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == want:
        return
    if not PY.exists():
        print("creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    print("installing hypergraph with test and dev extras ...", flush=True)
    _run([str(PY), "-m", "pip", "install", "-q", "-e", f"{ROOT}[test,dev]"])
    stamp.write_text(want)


def _run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    code = subprocess.call(cmd, cwd=ROOT)
    if code != 0:
        sys.exit(code)


def demo(args: list[str]) -> None:
    _ensure_env()
    _run([str(PY), "examples/demo.py", *args])


def serve(args: list[str]) -> None:
    """The chat page on the offline stand-in model: `python -m hypergraph.serve.demo`."""
    _ensure_env()
    cmd = [str(PY), "-m", "hypergraph.serve.demo", *args]
    print("$", " ".join(cmd), flush=True)
    with subprocess.Popen(cmd, cwd=ROOT) as server:
        while True:
            try:
                sys.exit(server.wait())
            except KeyboardInterrupt:  # Ctrl-C reached the server too: let it shut down
                continue


CODE = [p for p in ("src", "tests", "examples", "bench", "dev.py") if (ROOT / p).exists()]


def check(args: list[str]) -> None:
    _ensure_env()
    _run([str(PY), "-m", "ruff", "format", "--check", *CODE])
    _run([str(PY), "-m", "ruff", "check", *CODE])
    _run([str(PY), "-m", "mypy"])
    _run([str(PY), "-m", "pytest", *args])


def test(args: list[str]) -> None:
    _ensure_env()
    _run([str(PY), "-m", "pytest", *args])


COMMANDS = {"demo": demo, "serve": serve, "check": check, "test": test}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: python3 dev.py {{{'|'.join(COMMANDS)}}} [args...]")
    COMMANDS[sys.argv[1]](sys.argv[2:])
