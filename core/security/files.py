"""Files and directories only their owner may read: the data dir, the database, the logs.

New ones are created private; an existing install found readable by others is
tightened, with a warning naming the path, the mode it had and the mode it has now.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from io import TextIOWrapper
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

PRIVATE_DIR: Final = 0o700
PRIVATE_FILE: Final = 0o600


def tighten(path: Path, mode: int) -> bool:
    """Remove group and other permissions beyond `mode`; True when the mode changed."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return False
    if not current & ~mode & 0o077:
        return False
    try:
        os.chmod(path, current & ~0o077 | (mode & 0o077))
    except OSError as exc:
        log.warning("%s is readable by others (mode %o) and cannot be tightened: %s", path, current, exc)
        return False
    log.warning("%s was readable by others (mode %o): now %o", path, current,
                stat.S_IMODE(path.stat().st_mode))
    return True


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) 0700, or tighten it if it exists."""
    if path.is_dir():
        tighten(path, PRIVATE_DIR)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=PRIVATE_DIR)
    os.chmod(path, PRIVATE_DIR)  # mkdir's mode is filtered by the umask
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty and 0600, or tighten it if it exists (its directory must exist)."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE))
    except FileExistsError:
        tighten(path, PRIVATE_FILE)
    return path


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A rotating log whose current and rotated files are 0600."""

    def _open(self) -> TextIOWrapper:
        private_file(Path(self.baseFilename))
        return super()._open()
