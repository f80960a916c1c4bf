"""Typed errors whose messages tell a user what happened and what to do next.

The CLI prints ``str(error)`` and exits with ``error.exit_code``; the TUI shows the same text in a
notification or modal. Keeping the hint next to the message means every surface gives the same advice.
"""

from __future__ import annotations


class MemdeckError(Exception):
    """Base class: a failure the user can understand and act on."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message

    def to_dict(self) -> dict[str, str | None]:
        """Machine-readable form for ``--json`` output."""
        return {"error": type(self).__name__, "message": self.message, "hint": self.hint}


class InvalidInput(MemdeckError):
    """The caller passed something malformed: a bad name, wrong type, unreadable file."""

    exit_code = 2


class ConfigError(InvalidInput):
    """A config key or value is unknown or out of range."""


class NotFound(MemdeckError):
    """The named collection, item or object does not exist."""

    exit_code = 3


class ModelUnavailable(MemdeckError):
    """A local model (embedder or GGUF) is missing or cannot be loaded."""

    exit_code = 4


class StorageError(MemdeckError):
    """The database or data dir cannot be written: disk full, permissions, locked too long."""

    exit_code = 5


class IndexError_(MemdeckError):
    """The vector index checkpoint is unreadable or inconsistent; it will be rebuilt from SQLite."""

    exit_code = 6


class Cancelled(MemdeckError):
    """A long-running job was cancelled by the user."""

    exit_code = 130


class NotEmpty(MemdeckError):
    """Refusing to overwrite a data dir that already holds memory."""

    exit_code = 7


class PermissionDenied(MemdeckError):
    """The caller's role does not allow this action (the attempt is audited)."""

    exit_code = 8


class ApprovalRequired(MemdeckError):
    """Two-person approval is on for this action: a request was filed instead of running it."""

    exit_code = 9

    def __init__(self, message: str, hint: str | None = None, approval_id: int = 0) -> None:
        super().__init__(message, hint)
        self.approval_id = approval_id
