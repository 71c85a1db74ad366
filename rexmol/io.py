"""Atomic file writes: a reader sees the old file or the new one, never a half-written one.

Every writer goes through :func:`atomic_path`. It hands out a temporary path in the target's
folder (the same file system, so the final ``os.replace`` is atomic) with the target's extension
(numpy, matplotlib and mdtraj pick the format from it), renames it over the target when the
writer succeeds, and removes it when the writer fails, leaving any old file as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path


def file_sha256(path) -> str:
    """SHA-256 of a file's bytes (hex): how runs name the model and shift files they used."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """``with atomic_path(p) as tmp: write(tmp)``: ``p`` is replaced only if ``write`` returns.
    Creates ``p``'s folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):  # after a failure: leave no partial file behind
            tmp.unlink()


def atomic_write_text(path, text: str) -> Path:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
    return Path(path)


def atomic_write_json(path, payload) -> Path:
    """JSON with one-space indent; numpy scalars (anything ``float`` accepts) are written as floats."""
    return atomic_write_text(path, json.dumps(payload, indent=1, default=float))


def atomic_savez(path, **arrays) -> Path:
    """``np.savez`` (uncompressed) of ``arrays``; ``path`` should end in ``.npz``."""
    import numpy as np

    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)
    return Path(path)
