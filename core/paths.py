"""Where memdeck keeps runtime state, and where the read-only resources shipped with it live.

Runtime state never lives in the repository: it goes to a data dir chosen by ``--data-dir``, then
``MEMDECK_HOME``, then the platform's user data dir.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_HOME = "MEMDECK_HOME"


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Pick the data dir: explicit argument, then ``$MEMDECK_HOME``, then platformdirs."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_data_dir("memdeck", appauthor=False)).resolve()


def resource_dir() -> Path:
    """The repository's read-only ``data/`` folder (demo corpus, canaries, policies)."""
    return Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class DataLayout:
    """Every path inside one data dir, in one place so no module invents its own."""

    root: Path

    @property
    def db_path(self) -> Path:
        return self.root / "memdeck.db"

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def index_dir(self) -> Path:
        return self.root / "index"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def onnx_dir(self) -> Path:
        return self.cache_dir / "onnx"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def audit_archive_dir(self) -> Path:
        return self.root / "audit-archive"

    @property
    def backups_dir(self) -> Path:
        return self.root / "backups"

    def ensure(self) -> None:
        """Create the folders; a clear error if the place is not writable."""
        from core.errors import StorageError

        try:
            for path in (self.root, self.index_dir, self.cache_dir, self.models_dir):
                path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create data dir {self.root}: {exc.strerror}",
                hint="pass --data-dir PATH or set MEMDECK_HOME to a writable folder",
            ) from exc


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (POSIX needs the directory itself synced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` so readers see the old file or the new one, never a torn one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
