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


def key_base_for(path: Path, base: Path) -> str:
    resolved = path.resolve()
    try:
        rel = resolved.relative_to(base)
        text = rel.as_posix()
    except ValueError:
        text = resolved.as_posix().lstrip("/")
    text = _BAD.sub("_", text).lstrip("._:/@+-") or "file"
    if len(text) > _MAX_BASE:
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        text = f"{text[: _MAX_BASE - 11]}~{digest}"
    return text
