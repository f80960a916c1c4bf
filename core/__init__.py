"""memdeck's embedded core library. It never imports Textual; the facade is ``core.Memdeck``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.memdeck import Memdeck

__all__ = ["Memdeck"]


def __getattr__(name: str) -> Any:
    # Lazy so `import core.errors` (and `memdeck --help`) never pays for SQLAlchemy or numpy.
    if name == "Memdeck":
        from core.memdeck import Memdeck

        return Memdeck
    raise AttributeError(name)
