"""Files the emulator writes, some holding secrets (the service principal in `connection.json`, the TLS key).

A file that holds a secret is private from its first byte: it is created with its mode (never written
world-readable and narrowed afterwards), through a fresh temporary file renamed into place, so a reader
never sees it half written.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE = 0o600
PUBLIC = 0o644


def write_atomic(path: Path, data: bytes, mode: int = PUBLIC) -> None:
    """Write `data` to `path` with `mode` from creation on (the umask can only narrow it)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
