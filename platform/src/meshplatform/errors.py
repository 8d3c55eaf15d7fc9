"""Errors a user can act on: what is wrong, where, and what to do."""

from __future__ import annotations


class MeshError(Exception):
    """A problem the user can fix. The CLI prints it without a traceback."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ExportRejected(MeshError):
    """An export file that cannot be used as a whole; nothing of it was loaded."""
