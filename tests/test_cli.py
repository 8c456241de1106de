"""The `hypergraph` command, run as a user runs it: a subprocess, real pipes, real signals.

The graphs live in `tests/apps/cli_apps.py`; the commands run from `tests/`, so the
target `apps.cli_apps:story` is found the way `app:graph` is found in a user's project.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import pytest

from hypergraph._loading import GraphLoadError, load_graph
from hypergraph.cli import SERVE_EXTRA

pytestmark = pytest.mark.timeout(60)

TESTS = Path(__file__).resolve().parent
WAIT = 20.0  # seconds a step may take before the test fails instead of hanging


def child_env() -> dict[str, str]:
    """The environment of a user's shell: UTF-8, and stdout buffered as Python does by
    default (PYTHONUNBUFFERED would hide a missing flush)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return {**env, "PYTHONIOENCODING": "utf-8"}


def hg(*args: str, cwd: Path = TESTS) -> subprocess.CompletedProcess[str]:
    """`python -m hypergraph *args`, to the end; its exit code, stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-m", "hypergraph", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=WAIT,
        env=child_env(),
    )


def split_output(stdout: str) -> tuple[str, object]:
    """The streamed text, and the outputs JSON printed after it."""
    start = stdout.index("{")
    return stdout[:start], json.loads(stdout[start:])


class Pipe:
    """Reads a child's pipe in a thread, so a test can wait (bounded) for some text."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self.data = b""
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._pump, args=(pipe,), daemon=True)
        self.thread.start()

    def _pump(self, pipe: IO[bytes]) -> None:
        while block := os.read(pipe.fileno(), 4096):
            with self.changed:
                self.data += block
                self.changed.notify_all()

    def wait_for(self, text: bytes) -> None:
        with self.changed:
            seen = self.changed.wait_for(lambda: text in self.data, timeout=WAIT)
        assert seen, f"{text!r} did not appear; got {self.data!r}"

    def text(self) -> str:
        self.thread.join(WAIT)
        return self.data.decode()


def start(*args: str) -> tuple[subprocess.Popen[bytes], Pipe, Pipe]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hypergraph", *args],
        cwd=TESTS,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    return proc, Pipe(proc.stdout), Pipe(proc.stderr)


# -- run ------------------------------------------------------------------------------------


@pytest.mark.parametrize("graph", ["story", "async_story"])
def test_run_prints_the_streamed_chunks_in_order_then_the_outputs_as_json(graph: str) -> None:
    done = hg("run", f"apps.cli_apps:{graph}", "-i", "topic=dragon")
    assert (done.returncode, done.stderr) == (0, "")
    streamed, outputs = split_output(done.stdout)
    assert streamed == "Once upon a dragon\n"
    assert outputs == {"tokens": ["Once", " upon", " a dragon"], "title": "ONCE UPON A DRAGON"}


@pytest.mark.parametrize("graph", ["handshake", "async_handshake"])
def test_a_chunk_is_printed_while_its_node_is_still_running(graph: str) -> None:
    proc, out, err = start("run", f"apps.cli_apps:{graph}")
    assert proc.stdin is not None
    out.wait_for(b"first")  # the node now waits for us: the chunk was not held back
    assert proc.poll() is None
    proc.stdin.write(b"go on\n")
    proc.stdin.close()
    assert proc.wait(WAIT) == 0, err.text()
    streamed, outputs = split_output(out.text())
    assert streamed == "first second\n"
    assert outputs == {"tokens": ["first", " second"]}


@pytest.mark.parametrize(
    ("given", "kind", "value"),
    [
        ("5", "int", 5),
        ("2.5", "float", 2.5),
        ("true", "bool", True),
        ("[1, 2]", "list", [1, 2]),
        ('{"a": 1}', "dict", {"a": 1}),
        ('"5"', "str", "5"),
        ("hello world", "str", "hello world"),
        ("", "str", ""),
    ],
)
def test_input_values_are_json_when_they_parse_and_text_otherwise(
    given: str, kind: str, value: object
) -> None:
    done = hg("run", "apps.cli_apps:echo", "-i", f"value={given}")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"kind": kind, "same": value}


def test_values_json_gives_the_inputs_and_an_i_flag_overrides_one() -> None:
    done = hg("run", "apps.cli_apps:adder", "--values-json", '{"a": 1, "b": 2}', "-i", "b=40")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"total": 41}


def test_a_paused_run_says_what_it_asks_and_how_to_answer_then_the_answer_finishes_it() -> None:
    paused = hg("run", "apps.cli_apps:approval", "-i", "a=1", "-i", "b=2")
    assert paused.returncode == 3, paused.stderr  # a script can tell it from "done"
    assert json.loads(paused.stdout) == {"total": 3}
    assert "paused: 'confirm' asks" in paused.stderr and "publish 3?" in paused.stderr
    assert "-i 'approved=<answer>'" in paused.stderr
    done = hg("run", "apps.cli_apps:approval", "-i", "a=1", "-i", "b=2", "-i", "approved=true")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"total": 3, "approved": True, "published": "published 3"}


def test_outputs_that_json_cannot_hold_are_printed_as_their_repr() -> None:
    done = hg("run", "apps.cli_apps:odd")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"items": "{1, 2}", "ratio": "nan", "text": "plain"}


@pytest.mark.parametrize("graph", ["broken", "async_broken"])
def test_a_failed_run_keeps_the_printed_chunks_and_exits_1_with_one_clean_paragraph(
    graph: str,
) -> None:
    done = hg("run", f"apps.cli_apps:{graph}", "-i", "prompt=hi")
    assert done.returncode == 1
    assert done.stdout == "partial\n"  # what the user already saw stays; no outputs JSON
    assert done.stderr == (
        "hypergraph run: node 'stream' failed after streaming 2 chunks (shown above): "
        "RuntimeError: provider went away\n"
    )


def test_a_missing_input_exits_2_naming_it_and_how_to_give_it() -> None:
    done = hg("run", "apps.cli_apps:story")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("hypergraph run: Missing required input: 'topic'")
    assert "-i name=value" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_input_exits_2_with_a_did_you_mean() -> None:
    done = hg("run", "apps.cli_apps:story", "-i", "topc=dragon")
    assert done.returncode == 2
    assert "Unknown input 'topc'" in done.stderr and "Did you mean 'topic'?" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "topic"], "-i 'topic' is not name=value"),
        (["--values-json", "{topic: 1}"], "--values-json is not valid JSON"),
        (["--values-json", "[1]"], "--values-json must be a JSON object"),
    ],
)
def test_a_malformed_input_flag_exits_2_and_shows_the_right_form(
    args: list[str], message: str
) -> None:
    done = hg("run", "apps.cli_apps:story", *args)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(f"hypergraph run: {message}")
    assert "How to fix:" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("graph", ["endless", "async_endless"])
def test_ctrl_c_cancels_the_run_closes_the_stream_and_exits_130(graph: str) -> None:
    proc, out, err = start("run", f"apps.cli_apps:{graph}")
    out.wait_for(b"tick\n")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(WAIT) == 130
    stderr = err.text()
    assert "stream closed" in stderr  # the generator's finally ran: an SDK stream would close
    assert stderr.endswith("hypergraph run: interrupted.\n")
    assert "Traceback" not in stderr
    assert set(out.text().splitlines()) == {"tick"}


# -- loading a target ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("apps.cli_apps", "does not say where the graph is: a target is module:attribute"),
        ("apps.no_such_app:graph", "No module named 'apps.no_such_app'"),
        ("apps.cli_apps:stroy", "has no attribute 'stroy'"),
        ("apps.cli_apps:not_a_graph", "'apps.cli_apps:not_a_graph' is a int (42), not a Graph"),
        ("apps.cli_apps:make_graph", "graph = make_graph(...)"),
        ("apps/nowhere.py:graph", "There is no file 'apps/nowhere.py'"),
        ("apps/broken_import.py:graph", "raised ValueError: settings file missing"),
        (
            "apps.missing_dependency:graph",
            "raised ModuleNotFoundError: No module named "
            "'hypergraph_test_package_that_does_not_exist'",
        ),
    ],
)
def test_a_bad_target_exits_2_with_what_is_wrong_and_how_to_fix_it(
    target: str, message: str
) -> None:
    done = hg("mermaid", target)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("hypergraph mermaid: ")
    assert message in done.stderr
    assert "How to fix:" in done.stderr and "Traceback" not in done.stderr


def test_a_missing_attribute_suggests_the_close_name_and_lists_the_graphs() -> None:
    with pytest.raises(GraphLoadError) as caught:
        load_graph("apps.cli_apps:stroy")
    message = str(caught.value)
    assert "Did you mean 'story'?" in message
    assert "Graphs in 'apps.cli_apps': 'story', 'async_story'" in message
    assert caught.value.target == "apps.cli_apps:stroy"


def test_an_import_error_says_where_in_the_users_code_it_happened() -> None:
    done = hg("mermaid", "apps/broken_import.py:graph")
    assert f"{TESTS / 'apps' / 'broken_import.py'}, line 6" in done.stderr


def test_a_file_target_works_from_any_directory_and_may_import_its_neighbours() -> None:
    done = hg("mermaid", "tests/apps/sibling_import.py:graph", cwd=TESTS.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("flowchart TD\n")


# -- mermaid, serve, the script itself ---------------------------------------------------


def test_mermaid_prints_the_graphs_flowchart() -> None:
    from apps.cli_apps import story

    done = hg("mermaid", "apps.cli_apps:story", "--direction", "LR")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == story.to_mermaid(direction="LR")


def test_serve_without_the_serve_module_says_how_to_install_the_extra() -> None:
    # Blocking the import the way a missing extra would, so this holds once
    # hypergraph.serve exists too.
    code = (
        "import sys; sys.modules['hypergraph.serve'] = None\n"
        "from hypergraph.cli import main\n"
        "sys.exit(main(['serve', 'apps.cli_apps:story', '--port', '0']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=TESTS,
        capture_output=True,
        text=True,
        timeout=WAIT,
        env=child_env(),
    )
    assert done.returncode == 2
    assert done.stderr.startswith(SERVE_EXTRA + "\n")
    assert "Traceback" not in done.stderr


def test_no_command_prints_the_help_and_exits_2() -> None:
    done = hg()
    assert done.returncode == 2
    assert "run" in done.stderr and "mermaid" in done.stderr and "serve" in done.stderr


def test_the_installed_console_script_runs_the_command() -> None:
    script = Path(sys.executable).parent / ("hypergraph.exe" if os.name == "nt" else "hypergraph")
    assert script.exists(), "the package is installed without its script: pip install -e ."
    done = subprocess.run(
        [str(script), "run", "apps/cli_apps.py:story", "-i", "topic=fox"],
        cwd=TESTS,
        capture_output=True,
        text=True,
        timeout=WAIT,
        env=child_env(),
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert split_output(done.stdout)[0] == "Once upon a fox\n"
