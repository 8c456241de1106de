"""`python3 dev.py serve` starts the offline chat page and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(60)


def test_dev_py_serve_shows_the_chat_page_and_stops_on_ctrl_c() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "dev.py"), "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ctrl-C goes to the terminal's process group: ours alone
    )
    try:
        assert server.stderr is not None
        seen = []
        for line in server.stderr:  # uvicorn says when it listens
            seen.append(line)
            if "Uvicorn running on" in line:
                break
        else:
            pytest.fail("dev.py serve ended before listening:\n" + "".join(seen))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200
            assert "<html" in page.read().decode().lower()
        os.killpg(server.pid, signal.SIGINT)
        assert server.wait(20) == 0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
    assert server.stdout is not None
    assert f"http://127.0.0.1:{port}/" in server.stdout.read()
