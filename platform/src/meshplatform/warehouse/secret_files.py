"""Files that hold secrets: created owner-only (0600, in 0700 folders), never printed.

A secret is generated once and then read back; two processes creating it at the same moment
agree on one value (exclusive create; the loser reads the winner's file).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner may enter (created if missing)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, readable by its owner only."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    tmp.replace(path)


def read_or_create(path: Path) -> str:
    """The secret stored in ``path``; a new random one (stored first) if there is none."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    value = secrets.token_urlsafe(24)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    write_private(tmp, value + "\n")
    try:
        os.link(tmp, path)  # atomic and exclusive: a concurrent creator's value wins if it came first
    except FileExistsError:
        value = path.read_text(encoding="utf-8").strip()
    finally:
        tmp.unlink()
    return value
