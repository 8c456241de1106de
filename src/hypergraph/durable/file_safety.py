"""Refuse cache files another user could write: unpickling them would run that user's code.

Before a `DiskCache` opens its file it checks, on POSIX systems, that the directory
belongs to this user (or root) and is not group- or other-writable (another user
could plant the SQLite `-wal` file next to it), and that the file and its `-wal`,
`-shm` and `-journal` companions are regular files owned by this user and not group-
or other-writable. A new file is created with mode 0o600. Windows has no such mode
bits; there the checks are skipped and the directory's ACLs are trusted.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import InsecureCacheFileError

_COMPANIONS = ("-wal", "-shm", "-journal")
_SAFE_PLACE = "~/.cache/hypergraph/cache.sqlite"


@dataclass(frozen=True)
class Kind:
    """What the file is, for the messages: its name, its class, a safe place, and whether
    deleting it loses nothing (a cache) or something (a checkpoint)."""

    name: str
    owner: str
    safe_place: str
    disposable: bool

    def remove(self, file: Path, verb: str = "remove") -> str:
        if self.disposable:
            return f"{verb} '{file}' (a cache holds nothing that cannot be made again)"
        return f"move '{file}' aside and find out who wrote it before you trust it"


CACHE = Kind("disk cache", "DiskCache", _SAFE_PLACE, True)
CHECKPOINT = Kind(
    "checkpoint file", "SqliteCheckpointer", "~/.local/state/hypergraph/runs.sqlite", False
)


def prepare_private_file(path: Path, kind: Kind = CACHE) -> None:
    """Make sure `path` (absolute, symlinks resolved) is safe to unpickle from; create it."""
    if sys.platform == "win32":
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    directory = path.parent
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    _check_directory(path, directory, kind)
    _create(path)
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in _COMPANIONS)):
        _check_file(path, candidate, kind)


def _create(path: Path) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o600)  # the umask may have taken bits away; we want exactly these
    finally:
        os.close(fd)


def _check_directory(cache: Path, directory: Path, kind: Kind) -> None:
    info = directory.stat()
    me = os.geteuid()
    if info.st_uid not in (me, 0):
        _refuse(
            kind,
            cache,
            f"its directory '{directory}' belongs to another user (uid {info.st_uid})",
            "use a directory you own",
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        _refuse(
            kind,
            cache,
            f"its directory '{directory}' can be written by its group or by other users "
            f"(mode {stat.S_IMODE(info.st_mode):#o}), so they could plant files next to it",
            f"run `chmod go-w '{directory}'`",
        )


def _check_file(cache: Path, file: Path, kind: Kind) -> None:
    try:
        info = file.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        _refuse(
            kind,
            cache,
            f"'{file}' is not a regular file (a symlink, directory or device)",
            kind.remove(file),
        )
    if info.st_uid != os.geteuid():
        _refuse(
            kind,
            cache,
            f"'{file}' belongs to another user (uid {info.st_uid})",
            kind.remove(file, "delete"),
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        _refuse(
            kind,
            cache,
            f"'{file}' can be written by its group or by other users "
            f"(mode {stat.S_IMODE(info.st_mode):#o})",
            f"run `chmod 600 '{file}'`",
        )


def _refuse(kind: Kind, cache: Path, problem: str, fix: str) -> None:
    raise InsecureCacheFileError(
        f"Refusing to open the {kind.name} '{cache}': {problem}. Its entries are pickled, "
        "and unpickling a file another user can write would run their code in this "
        f"process. How to fix: {fix}, or give {kind.owner} a path in a directory only you "
        f"can write, such as {kind.safe_place}.",
        path=str(cache),
    )
