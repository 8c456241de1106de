"""Who runs a workflow now: the lease a run holds on its workflow id, and whether its
holder is still alive (decision 0037).

A run that opens a workflow records a `Holder`: this machine's name, this process's id
and what tells this process from a later one given the same id (on Linux the boot id and
the process's start time), and a token of the run. Another opener is refused while the
holder is alive, so two processes never run the same nodes (a second payment). A holder
is dead when:

- it is another process on this machine that no longer exists, is a zombie, or is a
  later process that was given the same id (its start time differs);
- it is this process and the run that took it is over (its token is no longer held:
  runs of this process hold theirs in `_LIVE`, weakly, so a run object that is gone
  holds nothing).

A holder on another machine cannot be checked and counts as alive: SQLite in WAL mode is
shared only on one machine, so this is a file copied or mounted elsewhere;
`cp.release(workflow_id)` frees it by hand.
"""

from __future__ import annotations

import os
import sys
import time
import weakref
from dataclasses import dataclass

from .checkpoint import WorkflowBusyError

# Tokens of the runs of this process that hold a lease, each to the object of its run.
_LIVE: weakref.WeakValueDictionary[str, object] = weakref.WeakValueDictionary()
_me: tuple[int, str, str] | None = None  # (pid, host, start marker) of this process


@dataclass(frozen=True)
class Holder:
    """Who holds a workflow's lease: `host`, `pid`, `started` (tells this process from a
    later one with the same pid; "" where unknown), the run's `token`, and `since`."""

    host: str
    pid: int
    started: str
    token: str
    since: float


def hold(token: str, run: object) -> Holder:
    """`run` (an object that lives as long as the run) takes a lease: its holder."""
    _LIVE[token] = run
    pid, host, started = _identity()
    return Holder(host, pid, started, token, time.time())


def drop(token: str) -> None:
    """The run of `token` is over."""
    _LIVE.pop(token, None)


def check(workflow_id: str, current: Holder | None, token: str) -> None:
    """Raise `WorkflowBusyError` if `current` (the stored holder of `workflow_id`, if any)
    is another run that is still alive."""
    if current is None or current.token == token or not alive(current):
        return
    pid, host, _ = _identity()
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(current.since))
    if current.host != host:
        who = f"process {current.pid} on another machine ('{current.host}')"
        fix = (
            "hypergraph cannot tell whether a process on another machine still runs; if "
            f"it does not, free the workflow with cp.release('{workflow_id}')"
        )
    elif current.pid == pid:
        who = "another run in this process"
        fix = "wait for that run to end"
    else:
        who = f"process {current.pid}"
        fix = "wait for that run to end, or stop that process"
    raise WorkflowBusyError(
        f"Workflow '{workflow_id}' is being run by {who} since {since}; running it here "
        "too would run its nodes twice.\nHow to fix: "
        f"{fix}. Then run it again: an unfinished workflow resumes, a finished one "
        "returns its stored result.",
        workflow_id,
        current,
    )


def alive(holder: Holder) -> bool:
    """Whether `holder` may still be running (True when that cannot be told)."""
    pid, host, started = _identity()
    if holder.host != host:
        return True
    if holder.pid == pid:
        return holder.started == started and holder.token in _LIVE
    return _process_alive(holder.pid, holder.started)


def _identity() -> tuple[int, str, str]:
    global _me
    pid = os.getpid()
    if _me is None or _me[0] != pid:  # first use, or a forked child
        if hasattr(os, "uname"):
            host = os.uname().nodename
        else:  # Windows
            import socket

            host = socket.gethostname()
        _me = (pid, host, _start_marker(pid) or "")
    return _me


def _start_marker(pid: int) -> str | None:
    """On Linux "<boot id>:<start time>" of process `pid` ("" elsewhere); None if there is
    no such process or it is a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return None if os.path.isdir("/proc/self") else ""
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses: fields follow the last ")".
    fields = stat[stat.rfind(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):  # a zombie: dead, only not reaped yet
        return None
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        boot = ""
    return f"{boot}:{fields[19].decode()}"


def _process_alive(pid: int, started: str) -> bool:
    if sys.platform == "win32":
        return _windows_process_alive(pid)
    marker = _start_marker(pid)
    if marker is None:
        return False
    if marker:  # Linux: a later process given the same pid is not the holder
        return marker == started
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _windows_process_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return bool(kernel32.GetLastError() == 5)  # access denied: it exists
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)
