"""The embedded defaults keep their data private to the user running the system: the
data directory is 0700 and the system's files in it 0600 (tickets, phone numbers, notes,
webhook secrets and the generated JWT secret live there).

The data directory can be any directory (`TICKETS_DATA_DIR`). One that is shared (the
sticky bit or write access for others, as `/tmp` has) or that holds files that are not
the system's (a home directory) keeps its mode, and its other files theirs: changing them
would lock others out of `/tmp` or change a user's own files. Only the system's files in
it are made 0600, and one warning line says so."""

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600
DATA_FILES = ("mongo.sqlite", "jwt_secret", ".jwt_secret.")
"""Name prefixes of the files the system keeps in its data directory (SQLite adds its
`-wal`, `-shm` and `-journal` files beside the database)."""


def private_directory(path: Path, *own: str) -> Path:
    """Makes `path` (0700), or takes group and other access away from an existing one
    that holds only the system's files (`DATA_FILES` and the name prefixes in `own`), and
    from the system's files directly in it."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIRECTORY)
    ours = (*DATA_FILES, *own)
    mode = path.stat().st_mode
    others = sum(1 for child in path.iterdir() if not child.name.startswith(ours))
    if mode & stat.S_ISVTX or mode & 0o022 or others:
        log.warning(
            "data directory shared or holding other files: left as it is, only the "
            "system's files in it made private",
            extra={"path": str(path), "mode": oct(stat.S_IMODE(mode)), "others": others},
        )
    elif stat.S_IMODE(mode) & 0o077:
        log.warning("data directory made private", extra={"path": str(path), "mode": "0700"})
        path.chmod(PRIVATE_DIRECTORY)
    for child in path.iterdir():
        if (
            child.name.startswith(ours)
            and child.is_file()
            and stat.S_IMODE(child.stat().st_mode) & 0o077
        ):
            child.chmod(PRIVATE_FILE)
    return path


def private_files() -> None:
    """From now on this process creates files 0600 and directories 0700 (SQLite makes
    its `-wal` and `-shm` files with the process's umask)."""
    os.umask(0o077)
