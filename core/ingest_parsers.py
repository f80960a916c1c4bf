"""Turn files into chunks for ingestion: pure functions, no database, stdlib only.

Ingest calls :func:`parse_file` once per file and stores the returned :class:`Chunk` objects under their
keys. Three properties matter more than anything else here:

* **All or nothing per file.** A file either yields its complete list of chunks or raises
  :class:`IngestFileError`; a half-parsed file would silently drop text from memory.
* **Deterministic.** The same bytes always give the same keys, content and metadata, so re-ingesting an
  unchanged file is a no-op downstream (nothing is re-embedded or rewritten).
* **Messages a user can act on.** Every error names the file and, where it applies, the line, row or
  record and the byte offset, because the person reading it has to open the file and fix it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Chunk",
    "IngestFileError",
    "chunk_text",
    "parse_file",
]

# Suffix (lower case) -> the "format" recorded in chunk metadata.
_FORMATS: dict[str, str] = {
    ".txt": "txt",
    ".md": "md",
    ".markdown": "md",
    ".json": "json",
    ".jsonl": "jsonl",
    ".csv": "csv",
    ".html": "html",
    ".htm": "html",
}

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_FORMATS)
"""File suffixes :func:`parse_file` accepts (compared case-insensitively)."""

MIN_CHUNK_CHARS = 100
"""Smaller chunks carry too little context to embed or retrieve usefully; matches ``ingest.chunk_chars``."""

MAX_KEY_CHARS = 200
"""Upper bound for an explicit record key, so keys stay usable in CLI output and URLs."""

RECORD_LIMIT_FACTOR = 20
"""Records (jsonl/json/csv) are stored whole, not chunked; one longer than this many chunks is refused
because it would embed badly and is far more likely a mistake (a whole book in one field)."""

_BINARY_SNIFF_BYTES = 8192
_CONTENT_FIELDS = ("content", "text", "body")
_RESERVED_METADATA = frozenset({"path", "chunk", "format"})


@dataclass(frozen=True)
class Chunk:
    """One unit of text to store and embed.

    ``key`` is ``"<key_base>#<n>"`` (n counts chunks of the file from 1) or ``"<key_base>#<explicit key>"``
    for records that name their own key. ``metadata`` always holds ``path`` (the key base), ``chunk`` (n)
    and ``format``; parsers add format-specific fields such as ``heading``, ``line``, ``row`` or ``title``.
    """

    key: str
    content: str
    metadata: dict[str, object] = field(default_factory=dict)


class IngestFileError(Exception):
    """One file could not be ingested; the message says what went wrong and where.

    Example: ``notes.json: invalid JSON at line 3 column 5: Expecting value``. The caller reports it and
    moves on to the next file; nothing from this file has been returned.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class _Draft:
    """A chunk before its key is assigned; ``where`` ("line 3", "row 2") is used only in error messages."""

    content: str
    metadata: dict[str, object]
    explicit_key: str | None = None
    where: str = ""


# --------------------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------------------


def parse_file(
    path: Path,
    key_base: str,
    *,
    chunk_chars: int = 1200,
    max_bytes: int = 20 * 1024 * 1024,
) -> list[Chunk]:
    """Read ``path`` once and return its chunks, or raise :class:`IngestFileError` for the whole file.

    ``key_base`` (usually the path relative to the ingest root) prefixes every key and is stored as
    metadata ``path``; errors name ``str(path)`` so the user can find the file on disk. ``chunk_chars``
    and ``max_bytes`` come from the ``ingest.chunk_chars`` and ``ingest.max_file_mb`` settings. A bad
    ``chunk_chars`` or negative ``max_bytes`` is a programming error and raises :class:`ValueError`.
    """
    _check_chunk_chars(chunk_chars)
    if max_bytes < 0:
        raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
    where = str(path)
    text, fmt = _read_text(path, max_bytes)
    drafts = _PARSERS[fmt](text, chunk_chars, where)
    return _assemble(drafts, key_base, fmt, where)


def chunk_text(text: str, chunk_chars: int) -> list[str]:
    """Split ``text`` into stripped, non-empty chunks of at most ``chunk_chars`` characters.

    Paragraphs (separated by blank lines) are kept whole and packed together while they fit, because a
    paragraph is the best unit of meaning we can find without a language model. A paragraph longer than
    ``chunk_chars`` is split at sentence ends (". ", "? ", "! "), a sentence that is still too long at
    whitespace, and a single "word" longer than ``chunk_chars`` (a URL, base64) hard at the limit. Words
    are never reordered or dropped; only whitespace between chunks is lost. Raises :class:`ValueError`
    if ``chunk_chars`` is below 100.
    """
    _check_chunk_chars(chunk_chars)
    chunks: list[str] = []
    current = ""
    for paragraph in _paragraphs(text):
        for joiner, segment in _segments(paragraph, chunk_chars):
            if not current:
                current = segment
            elif len(current) + len(joiner) + len(segment) <= chunk_chars:
                current += joiner + segment
            else:
                chunks.append(current)
                current = segment
    if current:
        chunks.append(current)
    return [chunk.strip() for chunk in chunks if chunk.strip()]


# --------------------------------------------------------------------------------------------------------
# Reading and validating bytes
# --------------------------------------------------------------------------------------------------------


def _read_text(path: Path, max_bytes: int) -> tuple[str, str]:
    """Return ``(text, format)`` after every file-level check, reading the bytes exactly once."""
    where = str(path)
    try:
        info = path.stat()
    except OSError as exc:
        raise IngestFileError(where, f"cannot read file: {_os_reason(exc)}") from exc
    if stat.S_ISDIR(info.st_mode):
        raise IngestFileError(where, "is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        # FIFOs and devices could block forever or never end.
        raise IngestFileError(where, "not a regular file")

    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        shown = path.suffix or "(no suffix)"
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise IngestFileError(where, f"unsupported file type {shown}; supported: {supported}")

    if info.st_size > max_bytes:
        raise IngestFileError(where, _too_large(info.st_size, max_bytes))
    try:
        with path.open("rb") as handle:
            # One more byte than allowed tells us the file grew past the limit after stat().
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise IngestFileError(where, f"cannot read file: {_os_reason(exc)}") from exc
    if len(data) > max_bytes:
        # It grew after stat(); we stopped reading, so the real size is unknown.
        raise IngestFileError(where, _too_large(None, max_bytes))

    return _decode(data, where), fmt


def _decode(data: bytes, where: str) -> str:
    """Decode UTF-8 (BOM allowed), refusing binary, UTF-16 and blank files with a precise reason."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Windows tools (PowerShell ">") write UTF-16; without this hint it would look "binary".
        raise IngestFileError(where, "looks like UTF-16 text; save it as UTF-8 and ingest again")
    nul = data.find(b"\x00", 0, _BINARY_SNIFF_BYTES)
    if nul != -1:
        raise IngestFileError(where, f"looks like a binary file (NUL byte at byte {nul})")
    try:
        # Decode with the BOM included so error offsets are offsets into the file as stored.
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise IngestFileError(where, f"not valid UTF-8 at byte {exc.start} (line {line})") from exc
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise IngestFileError(where, "empty file, nothing to ingest")
    return text


def _too_large(size: int | None, max_bytes: int) -> str:
    """Say how big the file is, what the limit is, and which setting changes it."""
    what = "file is over" if size is None else f"file is {_format_size(size)}, over"
    return f"{what} the limit of {_format_size(max_bytes)}; raise ingest.max_file_mb to ingest it"


def _format_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB ({size} bytes)"
    return f"{size / (1024 * 1024):.1f} MB ({size} bytes)"


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


# --------------------------------------------------------------------------------------------------------
# Plain-text chunking helpers
# --------------------------------------------------------------------------------------------------------

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])(\s+)")
_WHITESPACE_SPLIT = re.compile(r"(\s+)")


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _paragraphs(text: str) -> Iterator[str]:
    for paragraph in _PARAGRAPH_BREAK.split(_normalise_newlines(text)):
        paragraph = paragraph.strip()
        if paragraph:
            yield paragraph


def _segments(paragraph: str, chunk_chars: int) -> Iterator[tuple[str, str]]:
    """Yield ``(joiner, piece)`` pairs, each piece at most ``chunk_chars`` long.

    ``joiner`` is the text that separated the piece from the previous one in the source: a blank line
    between paragraphs, the original whitespace inside a paragraph, and nothing between the parts of a
    hard-split word. The packer uses it to rebuild the text faithfully when pieces share a chunk.
    """
    if len(paragraph) <= chunk_chars:
        yield "\n\n", paragraph
        return
    joiner = "\n\n"
    sentence_parts = _SENTENCE_SPLIT.split(paragraph)
    # re.split with one capturing group alternates: text, separator, text, separator, ...
    for s_index in range(0, len(sentence_parts), 2):
        sentence = sentence_parts[s_index]
        if sentence:
            if len(sentence) <= chunk_chars:
                yield joiner, sentence
            else:
                yield from _split_sentence(sentence, joiner, chunk_chars)
        if s_index + 1 < len(sentence_parts):
            joiner = sentence_parts[s_index + 1]


def _split_sentence(sentence: str, joiner: str, chunk_chars: int) -> Iterator[tuple[str, str]]:
    word_parts = _WHITESPACE_SPLIT.split(sentence)
    for w_index in range(0, len(word_parts), 2):
        word = word_parts[w_index]
        if word:
            for start in range(0, len(word), chunk_chars):
                yield (joiner if start == 0 else ""), word[start : start + chunk_chars]
        if w_index + 1 < len(word_parts):
            joiner = word_parts[w_index + 1]


def _check_chunk_chars(chunk_chars: int) -> None:
    if chunk_chars < MIN_CHUNK_CHARS:
        raise ValueError(f"chunk_chars must be at least {MIN_CHUNK_CHARS}, got {chunk_chars}")


# --------------------------------------------------------------------------------------------------------
# Format parsers: (text, chunk_chars, path for messages) -> drafts
# --------------------------------------------------------------------------------------------------------


def _parse_txt(text: str, chunk_chars: int, where: str) -> list[_Draft]:
    return [_Draft(content, {}) for content in chunk_text(text, chunk_chars)]


_ATX_HEADING = re.compile(r" {0,3}(#{1,6})(?=[ \t]|$)(.*)$")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+$")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


def _parse_markdown(text: str, chunk_chars: int, where: str) -> list[_Draft]:
    """Chunk each ATX section separately so a chunk never straddles two headings.

    Lines inside fenced code blocks are never headings (a ``# comment`` in a shell snippet is not a
    section). The heading line stays at the top of its section's first chunk so the embedded text
    carries the topic; metadata ``heading`` gives the plain heading text for display and filtering.
    """
    lines = _strip_front_matter(_normalise_newlines(text).split("\n"))
    sections: list[tuple[str, list[str]]] = [("", [])]
    fence: str | None = None
    for line in lines:
        fence_match = _FENCE.match(line)
        if fence is not None:
            if _closes_fence(line, fence):
                fence = None
        elif fence_match:
            fence = fence_match.group(1)
        else:
            heading = _ATX_HEADING.match(line)
            if heading:
                title = _CLOSING_HASHES.sub("", heading.group(2).strip()).strip()
                sections.append((title, [line]))
                continue
        sections[-1][1].append(line)

    drafts: list[_Draft] = []
    for title, section_lines in sections:
        for content in chunk_text("\n".join(section_lines), chunk_chars):
            drafts.append(_Draft(content, {"heading": title}))
    if not drafts:
        raise IngestFileError(where, "only front matter, nothing to ingest")
    return drafts


def _closes_fence(line: str, fence: str) -> bool:
    """A closing fence uses the opening character, is at least as long, and has nothing after it."""
    match = _FENCE.match(line)
    return (
        match is not None
        and match.group(1)[0] == fence[0]
        and len(match.group(1)) >= len(fence)
        and not line.strip().strip(fence[0])
    )


def _strip_front_matter(lines: list[str]) -> list[str]:
    """Drop a leading ``---`` ... ``---`` (or ``...``) YAML block; it is metadata, not prose."""
    if not lines or lines[0].rstrip() != "---":
        return lines
    for index in range(1, len(lines)):
        if lines[index].rstrip() in ("---", "..."):
            return lines[index + 1 :]
    return lines  # never closed: a thematic break, not front matter


_SKIP_TAGS = frozenset({"script", "style", "template", "noscript"})
_HEAD_TAGS = frozenset({"title", "meta", "link", "style", "script", "base", "noscript", "template"})
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "br", "caption", "dd", "details", "div",
        "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
        "tbody", "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
_CELL_TAGS = frozenset({"td", "th"})


class _TextExtractor(HTMLParser):
    """Collect visible text as paragraphs; block elements end a paragraph, inline ones do not."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities arrive already unescaped
        self.paragraphs: list[str] = []
        self.title: str | None = None
        self._current: list[str] = []
        self._title_parts: list[str] = []
        self._skip_depth = 0
        self._in_head = False
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag == "head":
            self._in_head = True
        elif tag == "title":
            self._in_title = True
        else:
            if self._in_head and tag not in _HEAD_TAGS:
                self._in_head = False  # browsers close an unterminated <head> at the first body tag
            self._boundary(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag == "head":
            self._in_head = False
        elif tag == "title":
            self._in_title = False
            if self.title is None:
                self.title = " ".join("".join(self._title_parts).split())
        else:
            self._boundary(tag)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._in_title:
            self._title_parts.append(data)
        elif not self._in_head:
            self._current.append(data)

    def close(self) -> None:
        super().close()
        self._end_paragraph()

    def _boundary(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self._end_paragraph()
        elif tag in _CELL_TAGS:
            self._current.append(" ")  # keep "a</td><td>b" from reading as "ab"

    def _end_paragraph(self) -> None:
        paragraph = " ".join("".join(self._current).split())
        self._current = []
        if paragraph:
            self.paragraphs.append(paragraph)


def _parse_html(text: str, chunk_chars: int, where: str) -> list[_Draft]:
    extractor = _TextExtractor()
    extractor.feed(text)
    extractor.close()
    if not extractor.paragraphs:
        raise IngestFileError(where, "no visible text in HTML")
    metadata: dict[str, object] = {"title": extractor.title} if extractor.title else {}
    return [
        _Draft(content, dict(metadata))
        for content in chunk_text("\n\n".join(extractor.paragraphs), chunk_chars)
    ]


def _parse_jsonl(text: str, chunk_chars: int, where: str) -> list[_Draft]:
    """One JSON object per non-blank line; one line is one record, never split."""
    drafts: list[_Draft] = []
    for line_no, line in enumerate(_normalise_newlines(text).split("\n"), start=1):
        if not line.strip():
            continue
        label = f"line {line_no}"
        try:
            value: object = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IngestFileError(where, f"{label}: invalid JSON: {exc.msg} (column {exc.colno})") from exc
        except RecursionError as exc:
            raise IngestFileError(where, f"{label}: invalid JSON: nested too deeply") from exc
        drafts.append(_record(value, label, {"line": line_no}, chunk_chars, where))
    return drafts


def _parse_json(text: str, chunk_chars: int, where: str) -> list[_Draft]:
    """A list of record objects, an object with an ``items`` list of them, or a single record object."""
    try:
        value: object = json.loads(text)
    except json.JSONDecodeError as exc:
        reason = f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        raise IngestFileError(where, reason) from exc
    except RecursionError as exc:
        raise IngestFileError(where, "invalid JSON: nested too deeply") from exc

    records: list[object]
    if isinstance(value, list):
        records = list(value)
    elif isinstance(value, dict):
        items = value.get("items")
        records = list(items) if isinstance(items, list) else [value]
    else:
        raise IngestFileError(where, f"expected a JSON object or a list of objects, got {_json_type(value)}")
    if not records:
        raise IngestFileError(where, "no records in JSON (the list is empty)")
    return [
        _record(record, f"record {number}", {"record": number}, chunk_chars, where)
        for number, record in enumerate(records, start=1)
    ]


def _record(value: object, label: str, position: dict[str, object], chunk_chars: int, where: str) -> _Draft:
    """Validate one jsonl/json record and turn it into a draft (shared so both formats agree exactly)."""
    if not isinstance(value, dict):
        raise IngestFileError(where, f"{label}: expected a JSON object, got {_json_type(value)}")
    content_field = next((name for name in _CONTENT_FIELDS if isinstance(value.get(name), str)), None)
    if content_field is None:
        raise IngestFileError(where, f"{label}: no 'content', 'text' or 'body' string field")
    content = _normalise_newlines(value[content_field]).strip()
    if not content:
        raise IngestFileError(where, f"{label}: '{content_field}' is empty")
    _check_record_length(content, label, chunk_chars, where)

    explicit_key: str | None = None
    if "key" in value:
        raw_key = value["key"]
        if not isinstance(raw_key, str):
            raise IngestFileError(where, f"{label}: 'key' must be a string, got {_json_type(raw_key)}")
        explicit_key = _check_key(raw_key, label, where)

    # Position fields and the reserved path/chunk/format win over same-named record fields, so
    # downstream code can rely on them; everything else is kept as-is.
    metadata = dict(position)
    for name, field_value in value.items():
        if name in _CONTENT_FIELDS or name == "key" or name in metadata or name in _RESERVED_METADATA:
            continue
        metadata[name] = field_value
    return _Draft(content, metadata, explicit_key, label)


def _parse_csv(text: str, chunk_chars: int, where: str) -> list[_Draft]:
    """Header row plus one record per data row; content is ``column: value`` lines for non-empty values."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    key_index: int | None = None
    drafts: list[_Draft] = []
    row_no = 0
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # blank line or a row of empty cells: nothing to say
            if header is None:
                header = _csv_header(row, where)
                key_index = _csv_key_index(header)
                continue
            row_no += 1
            label = f"row {row_no}"
            if len(row) != len(header):
                raise IngestFileError(
                    where,
                    f"{label} (line {reader.line_num}): has {len(row)} fields, "
                    f"but the header has {len(header)}",
                )
            content = "\n".join(
                f"{name}: {_normalise_newlines(cell).strip()}"
                for name, cell in zip(header, row, strict=True)
                if cell.strip()
            )
            _check_record_length(content, label, chunk_chars, where)
            explicit_key: str | None = None
            if key_index is not None:
                raw_key = row[key_index].strip()
                if not raw_key:
                    raise IngestFileError(where, f"{label}: empty value in key column {header[key_index]!r}")
                explicit_key = _check_key(raw_key, label, where)
            metadata: dict[str, object] = {"row": row_no, "fields": dict(zip(header, row, strict=True))}
            drafts.append(_Draft(content, metadata, explicit_key, label))
    except csv.Error as exc:
        raise IngestFileError(where, f"invalid CSV at line {reader.line_num}: {exc}") from exc
    if not drafts:
        raise IngestFileError(where, "no data rows in CSV")
    return drafts


def _csv_header(row: list[str], where: str) -> list[str]:
    header = [name.strip() for name in row]
    seen: set[str] = set()
    for index, name in enumerate(header, start=1):
        if not name:
            raise IngestFileError(where, f"CSV header: column {index} has no name")
        if name in seen:
            raise IngestFileError(where, f"CSV header: duplicate column name {name!r}")
        seen.add(name)
    return header


def _csv_key_index(header: list[str]) -> int | None:
    """A ``key`` column (preferred) or ``id`` column, case-insensitive, supplies explicit chunk keys."""
    lowered = [name.lower() for name in header]
    for wanted in ("key", "id"):
        if wanted in lowered:
            return lowered.index(wanted)
    return None


def _check_record_length(content: str, label: str, chunk_chars: int, where: str) -> None:
    limit = RECORD_LIMIT_FACTOR * chunk_chars
    if len(content) > limit:
        raise IngestFileError(
            where,
            f"{label}: record too long ({len(content)} characters; the limit is {limit}, "
            f"{RECORD_LIMIT_FACTOR} x ingest.chunk_chars)",
        )


def _check_key(key: str, label: str, where: str) -> str:
    if not key or len(key) > MAX_KEY_CHARS or any(char.isspace() for char in key):
        shown = key if len(key) <= 40 else key[:40] + "..."
        raise IngestFileError(
            where,
            f"{label}: invalid key {shown!r}: keys must be 1-{MAX_KEY_CHARS} characters without whitespace",
        )
    return key


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


_PARSERS: dict[str, Callable[[str, int, str], list[_Draft]]] = {
    "txt": _parse_txt,
    "md": _parse_markdown,
    "html": _parse_html,
    "jsonl": _parse_jsonl,
    "json": _parse_json,
    "csv": _parse_csv,
}


# --------------------------------------------------------------------------------------------------------
# Keys and metadata
# --------------------------------------------------------------------------------------------------------


def _assemble(drafts: list[_Draft], key_base: str, fmt: str, where: str) -> list[Chunk]:
    """Number drafts, attach standard metadata, and refuse duplicate keys before anything is returned."""
    if not drafts:
        raise IngestFileError(where, "no text to ingest")
    chunks: list[Chunk] = []
    used: dict[str, str] = {}  # key suffix -> label of the record that claimed it
    for number, draft in enumerate(drafts, start=1):
        suffix = draft.explicit_key if draft.explicit_key is not None else str(number)
        if suffix in used:
            if draft.explicit_key is not None:
                reason = f"{draft.where}: duplicate key {suffix!r} (also used by {used[suffix]})"
            else:
                reason = (
                    f"{draft.where}: its automatic key {suffix!r} is already used as an explicit key "
                    f"by {used[suffix]}"
                )
            raise IngestFileError(where, reason)
        used[suffix] = draft.where or f"chunk {number}"
        metadata: dict[str, object] = {"path": key_base, "chunk": number, "format": fmt}
        metadata.update(draft.metadata)
        chunks.append(Chunk(f"{key_base}#{suffix}", draft.content, metadata))
    return chunks
