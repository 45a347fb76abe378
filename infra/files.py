"""The embedded defaults keep their data private to the user running the system: the
data directory is 0700 and every file in it 0600 (tickets, phone numbers, notes, webhook
secrets and the generated JWT secret live there)."""

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600


def private_directory(path: Path) -> Path:
    """Makes `path` (0700), or takes group and other access away from an existing one and
    from the files directly in it."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIRECTORY)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        log.warning("data directory made private", extra={"path": str(path), "mode": "0700"})
        path.chmod(PRIVATE_DIRECTORY)
    for child in path.iterdir():
        if child.is_file() and stat.S_IMODE(child.stat().st_mode) & 0o077:
            child.chmod(PRIVATE_FILE)
    return path


def private_files() -> None:
    """From now on this process creates files 0600 and directories 0700 (SQLite makes
    its `-wal` and `-shm` files with the process's umask)."""
    os.umask(0o077)
