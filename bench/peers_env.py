"""The benchmark's own virtual environment, ``bench/.venv-peers`` (never the project's ``.venv``).

It holds the peers pinned in ``requirements-peers.txt`` and a regular (non-editable) install
of hypergraph from this repository, so that hypergraph is imported the way a user's
application imports it. Two stamp files inside the environment make reruns cheap: the peers
are reinstalled only when the requirement list changes, hypergraph only when its sources
(``src/hypergraph``) or ``pyproject.toml`` change.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV = BENCH / ".venv-peers"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
REQUIREMENTS = BENCH / "requirements-peers.txt"
PEERS_STAMP = VENV / ".peers-stamp"
HYPERGRAPH_STAMP = VENV / ".hypergraph-stamp"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(PYTHON), "-m", "pip", "install", "-q", *args]
    _say("$ " + " ".join(cmd))
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _hypergraph_digest() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    for path in sorted((ROOT / "src" / "hypergraph").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _ensure_peers() -> None:
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if PEERS_STAMP.exists() and PEERS_STAMP.read_text() == want:
        return
    _say(f"installing the peers from {REQUIREMENTS.name} into {VENV} ...")
    done = _pip("-r", str(REQUIREMENTS))
    if done.returncode != 0:
        sys.exit(f"installing the peers failed:\n{done.stdout}{done.stderr}")
    PEERS_STAMP.write_text(want)


def _ensure_hypergraph() -> str | None:
    want = _hypergraph_digest()
    if HYPERGRAPH_STAMP.exists() and HYPERGRAPH_STAMP.read_text() == want:
        return None
    _say(f"installing hypergraph from {ROOT} into {VENV} ...")
    # Uninstall first: a failed build must leave no stale copy behind to be measured.
    subprocess.run(
        [str(PYTHON), "-m", "pip", "uninstall", "-q", "-y", "hypergraph"],
        capture_output=True,
        check=False,
    )
    HYPERGRAPH_STAMP.unlink(missing_ok=True)
    done = _pip(str(ROOT))
    if done.returncode != 0:
        return f"installing hypergraph failed: {_last_line(done.stderr or done.stdout)}"
    HYPERGRAPH_STAMP.write_text(want)
    return None


def ensure(*, install: bool = True) -> str | None:
    """Make the environment ready; return why hypergraph cannot be measured, if it cannot.

    The peers are required (the run stops if they cannot be installed); hypergraph is the
    library under construction, so a failed install only turns its rows into n/a.
    """
    if not PYTHON.exists():
        if not install:
            sys.exit(f"{VENV} does not exist; run without --no-install once")
        _say(f"creating {VENV} ...")
        venv.create(VENV, with_pip=True)
    if not install:
        return None
    _ensure_peers()
    return _ensure_hypergraph()
