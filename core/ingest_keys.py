"""Stable item keys for ingested files, derived from their path.

Keys come from the path relative to the ingest base (the current directory by default), so the same
file ingested again maps to the same keys and an unchanged file is a no-op. Characters a key may not
hold become '_'; very long paths keep a readable head and a short hash so keys stay unique.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_BAD = re.compile(r"[^A-Za-z0-9._:/@+\-]")
_MAX_BASE = 200


def relative_path(path: Path, base: Path) -> str:
    """The path as the user knows it (relative to the ingest base when inside it): the provenance."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(base).as_posix()
    except ValueError:
        return resolved.as_posix()


def key_base_for(path: Path, base: Path) -> str:
    """A valid, stable key prefix; distinct paths never share one (a changed or shortened name gets a
    hash of the original path appended, so 'a b.txt' and 'a_b.txt' stay apart)."""
    original = relative_path(path, base).lstrip("/")
    text = _BAD.sub("_", original).lstrip("._:/@+-") or "file"
    digest = hashlib.sha256(original.encode("utf-8")).hexdigest()[:8]
    if len(text) > _MAX_BASE:
        text = f"{text[: _MAX_BASE - 9]}-{digest}"
    elif text != original:
        text = f"{text}-{digest}"
    return text
