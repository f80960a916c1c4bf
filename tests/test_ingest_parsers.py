"""Tests for core.ingest_parsers: every format's output, the chunk-size contract, determinism, and the
error messages a user sees when a file cannot be ingested."""

from __future__ import annotations

import json
import os
import random
import stat
from pathlib import Path

import pytest

from core.ingest_parsers import (
    SUPPORTED_SUFFIXES,
    Chunk,
    IngestFileError,
    chunk_text,
    parse_file,
)


def write(directory: Path, name: str, data: str | bytes) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_bytes(data.encode("utf-8"))
    else:
        path.write_bytes(data)
    return path


def parse_error(path: Path, **kwargs: int) -> IngestFileError:
    with pytest.raises(IngestFileError) as info:
        parse_file(path, path.name, **kwargs)
    assert info.value.path == str(path)
    assert str(info.value) == f"{path}: {info.value.reason}"
    return info.value


def generated_text(seed: int, paragraphs: int) -> str:
    """Paragraphs of varying size (some far longer than any chunk), sentences, and a few huge tokens."""
    rng = random.Random(seed)
    vocabulary = ["alpha", "beta", "gamma", "delta", "memory", "deck", "vector", "index", "x", "ok"]
    out: list[str] = []
    for _ in range(paragraphs):
        sentences = []
        for _ in range(rng.choice([1, 2, 5, 30, 80])):
            words = [rng.choice(vocabulary) + str(rng.randint(0, 99)) for _ in range(rng.randint(1, 40))]
            if rng.random() < 0.03:
                words.append("Z" * rng.randint(150, 700))  # longer than any chunk: must be hard-split
            sentences.append(" ".join(words) + rng.choice([".", "?", "!", ""]))
        separator = rng.choice([" ", "  ", "\n"])
        out.append(separator.join(sentences))
    return rng.choice(["\n\n", "\r\n\r\n", "\n \n\n"]).join(out)


# --------------------------------------------------------------------------------------------------------
# Module surface
# --------------------------------------------------------------------------------------------------------


def test_supported_suffixes_are_exactly_the_documented_ones() -> None:
    assert (
        frozenset({".txt", ".md", ".markdown", ".json", ".jsonl", ".csv", ".html", ".htm"})
        == SUPPORTED_SUFFIXES
    )


def test_ingest_file_error_keeps_path_and_reason() -> None:
    error = IngestFileError("notes.json", "invalid JSON at line 3 column 5: Expecting value")
    assert str(error) == "notes.json: invalid JSON at line 3 column 5: Expecting value"
    assert error.path == "notes.json"
    assert error.reason == "invalid JSON at line 3 column 5: Expecting value"


# --------------------------------------------------------------------------------------------------------
# chunk_text
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_chars", [100, 137, 400, 1200])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_chunk_text_bounds_size_and_preserves_words_in_order(seed: int, chunk_chars: int) -> None:
    text = generated_text(seed, paragraphs=40)
    assert len(text) > 20 * chunk_chars  # the property is only interesting if there is a lot to split
    chunks = chunk_text(text, chunk_chars)

    assert len(chunks) > 1
    for chunk in chunks:
        assert 0 < len(chunk) <= chunk_chars
        assert chunk == chunk.strip()
    # Words survive in order, and only a token longer than chunk_chars may be cut into pieces.
    pieces = iter(" ".join(chunks).split())
    for word in text.split():
        rebuilt = next(pieces)
        while rebuilt != word:
            assert len(word) > chunk_chars, f"word {word!r} was split"
            assert word.startswith(rebuilt)
            rebuilt += next(pieces)
    assert next(pieces, None) is None


def test_chunk_text_packs_whole_paragraphs_while_they_fit() -> None:
    para_a = "a" * 40
    para_b = "b" * 40
    para_c = "c" * 40
    assert chunk_text(f"{para_a}\n\n{para_b}\n\n{para_c}", 100) == [f"{para_a}\n\n{para_b}", para_c]


def test_chunk_text_never_splits_a_paragraph_that_fits() -> None:
    first = "word " * 15  # 75 chars
    second = "other " * 15  # 90 chars
    chunks = chunk_text(f"{first}\n\n{second}", 100)
    assert chunks == [first.strip(), second.strip()]


def test_chunk_text_splits_long_paragraph_at_sentence_ends() -> None:
    sentence_one = "The first sentence is here and it is reasonably long, about sixty chars."
    sentence_two = "Is the second one a question that also runs on for a while?"
    sentence_three = "Yes! It is."
    text = f"{sentence_one} {sentence_two} {sentence_three}"
    assert len(text) > 100
    assert chunk_text(text, 100) == [sentence_one, f"{sentence_two} {sentence_three}"]


def test_chunk_text_falls_back_to_whitespace_then_hard_split() -> None:
    words = " ".join(f"w{i:03d}" for i in range(60))  # 299 chars, no sentence ends
    chunks = chunk_text(words, 100)
    assert [len(chunk) for chunk in chunks] == [99, 99, 99]
    assert " ".join(chunks) == words

    token = "".join(str(i % 10) for i in range(250))
    assert chunk_text(token, 100) == [token[:100], token[100:200], token[200:]]


def test_chunk_text_normalises_newlines_and_drops_blank_paragraphs() -> None:
    assert chunk_text("one\r\ntwo\r\n\r\n   \r\n\r\nthree\rfour\n", 100) == ["one\ntwo\n\nthree\nfour"]
    assert chunk_text(" \n\n \t ", 100) == []


def test_chunk_text_rejects_tiny_chunk_size() -> None:
    with pytest.raises(ValueError, match="at least 100"):
        chunk_text("hello", 99)


def test_chunk_text_is_deterministic() -> None:
    text = generated_text(7, paragraphs=25)
    assert chunk_text(text, 300) == chunk_text(text, 300)


# --------------------------------------------------------------------------------------------------------
# .txt
# --------------------------------------------------------------------------------------------------------


def test_txt_single_chunk(tmp_path: Path) -> None:
    path = write(tmp_path, "notes/a.txt", "Hello there.\n\nSecond paragraph.\n")
    assert parse_file(path, "notes/a.txt") == [
        Chunk(
            "notes/a.txt#1",
            "Hello there.\n\nSecond paragraph.",
            {"path": "notes/a.txt", "chunk": 1, "format": "txt"},
        )
    ]


def test_txt_long_file_numbers_chunks_from_one(tmp_path: Path) -> None:
    text = generated_text(11, paragraphs=30)
    path = write(tmp_path, "long.TXT", text)  # suffix check is case-insensitive
    chunks = parse_file(path, "long", chunk_chars=250)
    expected = chunk_text(text, 250)
    assert [c.content for c in chunks] == expected
    assert [c.key for c in chunks] == [f"long#{n}" for n in range(1, len(expected) + 1)]
    assert [c.metadata["chunk"] for c in chunks] == list(range(1, len(expected) + 1))
    assert all(len(c.content) <= 250 for c in chunks)


# --------------------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------------------

MARKDOWN = """---
title: Guide
tags: [a, b]
---
Intro text before any heading.

# Install #

Run the installer.

```sh
# not a heading, just a shell comment
make install
```

## Configure

Set things up.
####### seven hashes is not a heading
#hashtag is not a heading either
"""


def test_markdown_sections_headings_and_front_matter(tmp_path: Path) -> None:
    path = write(tmp_path, "docs/guide.md", MARKDOWN)
    chunks = parse_file(path, "docs/guide.md")
    assert [c.key for c in chunks] == ["docs/guide.md#1", "docs/guide.md#2", "docs/guide.md#3"]
    assert [c.metadata["heading"] for c in chunks] == ["", "Install", "Configure"]
    assert chunks[0].content == "Intro text before any heading."
    assert chunks[1].content == (
        "# Install #\n\nRun the installer.\n\n```sh\n# not a heading, just a shell comment\nmake install\n```"
    )
    assert chunks[2].content == (
        "## Configure\n\nSet things up.\n"
        "####### seven hashes is not a heading\n#hashtag is not a heading either"
    )
    assert chunks[2].metadata == {"path": "docs/guide.md", "chunk": 3, "format": "md", "heading": "Configure"}
    assert all("title: Guide" not in c.content for c in chunks)


def test_markdown_long_section_keeps_heading_on_first_chunk_only(tmp_path: Path) -> None:
    body = "\n\n".join(f"Paragraph {i} " + "lorem ipsum " * 8 for i in range(12))
    path = write(tmp_path, "notes.markdown", f"# Big Topic\n\n{body}\n\n## Next\n\nShort.\n")
    chunks = parse_file(path, "notes", chunk_chars=200)

    big = [c for c in chunks if c.metadata["heading"] == "Big Topic"]
    assert len(big) > 2
    assert big[0].content.startswith("# Big Topic\n\nParagraph 0 ")
    assert not any(c.content.startswith("#") for c in big[1:])
    assert chunks[-1].content == "## Next\n\nShort."
    assert chunks[-1].metadata["heading"] == "Next"
    assert {c.metadata["format"] for c in chunks} == {"md"}
    assert all(len(c.content) <= 200 for c in chunks)


def test_markdown_unclosed_front_matter_is_plain_text(tmp_path: Path) -> None:
    path = write(tmp_path, "a.md", "---\nnot front matter\n")
    assert [c.content for c in parse_file(path, "a")] == ["---\nnot front matter"]


def test_markdown_with_only_front_matter_is_an_error(tmp_path: Path) -> None:
    error = parse_error(write(tmp_path, "a.md", "---\ntitle: x\n---\n\n"))
    assert error.reason == "only front matter, nothing to ingest"


# --------------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------------

HTML = """<!DOCTYPE html>
<html><head>
  <title>  Memdeck &amp; Friends </title>
  <style>p { color: red }</style>
  <script>var hidden = "<p>not text</p>";</script>
</head>
<body>
  <h1>Welcome</h1>
  <p>Hello&nbsp;<b>wor</b>ld,
     this   is   &lt;fine&gt;.</p>
  <div>Block one<br>Block two</div>
  <ul><li>first</li><li>second</li></ul>
  <table><tr><td>cell a</td><td>cell b</td></tr></table>
  <!-- a comment that is not visible -->
  <script>document.write("also hidden")</script>
  <noscript>enable JS</noscript>
</body></html>
"""


def test_html_visible_text_paragraphs_and_title(tmp_path: Path) -> None:
    path = write(tmp_path, "page.html", HTML)
    assert parse_file(path, "site/page.html") == [
        Chunk(
            "site/page.html#1",
            "Welcome\n\nHello world, this is <fine>.\n\nBlock one\n\nBlock two\n\nfirst\n\nsecond\n\n"
            "cell a cell b",
            {"path": "site/page.html", "chunk": 1, "format": "html", "title": "Memdeck & Friends"},
        )
    ]


def test_html_long_page_is_chunked_and_htm_suffix_works(tmp_path: Path) -> None:
    paragraphs = "".join(f"<p>Paragraph {i} {'text ' * 30}</p>" for i in range(10))
    path = write(tmp_path, "page.htm", f"<body>{paragraphs}</body>")
    chunks = parse_file(path, "p", chunk_chars=300)
    assert len(chunks) == 10
    assert chunks[3].content == "Paragraph 3 " + " ".join(["text"] * 30)
    assert chunks[3].metadata == {"path": "p", "chunk": 4, "format": "html"}  # no <title>: no "title"


def test_html_without_visible_text_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path, "empty.html", "<html><head><title>Only a title</title></head><body> </body></html>"
    )
    assert parse_error(path).reason == "no visible text in HTML"


# --------------------------------------------------------------------------------------------------------
# JSONL
# --------------------------------------------------------------------------------------------------------


def jsonl(*records: object) -> str:
    return "\n".join(json.dumps(record) for record in records) + "\n"


def test_jsonl_records_keys_content_and_metadata(tmp_path: Path) -> None:
    text = jsonl(
        {"key": "intro", "content": "First record.", "lang": "en", "tags": ["a", "b"]},
        {"text": "Second\r\nrecord.", "score": 3},
        {"body": "Third record.", "path": "ignored/override", "line": 99},
        {"content": "Content wins.", "text": "not this", "body": "nor this"},
    )
    text = text.replace("\n", "\n\n   \n", 1)  # blank lines are skipped but still counted
    path = write(tmp_path, "data.jsonl", text)
    chunks = parse_file(path, "data.jsonl")

    assert [c.key for c in chunks] == ["data.jsonl#intro", "data.jsonl#2", "data.jsonl#3", "data.jsonl#4"]
    assert [c.content for c in chunks] == [
        "First record.",
        "Second\nrecord.",
        "Third record.",
        "Content wins.",
    ]
    assert chunks[0].metadata == {
        "path": "data.jsonl",
        "chunk": 1,
        "format": "jsonl",
        "line": 1,
        "lang": "en",
        "tags": ["a", "b"],
    }
    assert chunks[1].metadata == {"path": "data.jsonl", "chunk": 2, "format": "jsonl", "line": 4, "score": 3}
    # Reserved fields keep their meaning even if a record has a field of the same name.
    assert chunks[2].metadata == {"path": "data.jsonl", "chunk": 3, "format": "jsonl", "line": 5}
    assert chunks[3].metadata == {"path": "data.jsonl", "chunk": 4, "format": "jsonl", "line": 6}


def test_jsonl_long_record_is_not_chunked(tmp_path: Path) -> None:
    content = "sentence here. " * 100  # 1500 chars, more than chunk_chars
    path = write(tmp_path, "a.jsonl", jsonl({"content": content}))
    chunks = parse_file(path, "a", chunk_chars=100)
    assert [c.content for c in chunks] == [content.strip()]


def test_jsonl_record_too_long(tmp_path: Path) -> None:
    path = write(tmp_path, "a.jsonl", jsonl({"content": "ok"}, {"content": "x" * 2001}))
    assert parse_error(path, chunk_chars=100).reason == (
        "line 2: record too long (2001 characters; the limit is 2000, 20 x ingest.chunk_chars)"
    )
    # Exactly at the limit is accepted.
    write(tmp_path, "a.jsonl", jsonl({"content": "ok"}, {"content": "x" * 2000}))
    assert len(parse_file(path, "a", chunk_chars=100)) == 2


def test_jsonl_invalid_json_names_the_line(tmp_path: Path) -> None:
    lines = [json.dumps({"content": f"r{i}"}) for i in range(6)] + ['{"content": "oops",}']
    path = write(tmp_path, "bad.jsonl", "\n".join(lines) + "\n")
    assert parse_error(path).reason == (
        "line 7: invalid JSON: Expecting property name enclosed in double quotes (column 20)"
    )


@pytest.mark.parametrize(
    ("third_line", "reason"),
    [
        ("[1, 2]", "line 3: expected a JSON object, got list"),
        ('"just a string"', "line 3: expected a JSON object, got string"),
        ('{"title": "no content"}', "line 3: no 'content', 'text' or 'body' string field"),
        ('{"content": 42}', "line 3: no 'content', 'text' or 'body' string field"),
        ('{"content": "  "}', "line 3: 'content' is empty"),
        ('{"content": "x", "key": 5}', "line 3: 'key' must be a string, got number"),
        (
            '{"content": "x", "key": "has space"}',
            "line 3: invalid key 'has space': keys must be 1-200 characters without whitespace",
        ),
        (
            '{"content": "x", "key": ""}',
            "line 3: invalid key '': keys must be 1-200 characters without whitespace",
        ),
    ],
)
def test_jsonl_record_errors(tmp_path: Path, third_line: str, reason: str) -> None:
    path = write(tmp_path, "r.jsonl", jsonl({"content": "a"}, {"content": "b"}) + third_line + "\n")
    assert parse_error(path).reason == reason


def test_jsonl_key_length_limit(tmp_path: Path) -> None:
    ok = write(tmp_path, "ok.jsonl", jsonl({"content": "x", "key": "k" * 200}))
    assert parse_file(ok, "ok")[0].key == "ok#" + "k" * 200
    bad = write(tmp_path, "bad.jsonl", jsonl({"content": "x", "key": "k" * 201}))
    assert parse_error(bad).reason.startswith("line 1: invalid key 'kkkk")


def test_jsonl_duplicate_keys_name_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dup.jsonl",
        jsonl({"content": "a", "key": "k1"}, {"content": "b", "key": "k2"}, {"content": "c", "key": "k1"}),
    )
    assert parse_error(path).reason == "line 3: duplicate key 'k1' (also used by line 1)"


def test_jsonl_explicit_key_colliding_with_automatic_number(tmp_path: Path) -> None:
    path = write(tmp_path, "c.jsonl", jsonl({"content": "a", "key": "2"}, {"content": "b"}))
    assert (
        parse_error(path).reason
        == "line 2: its automatic key '2' is already used as an explicit key by line 1"
    )


# --------------------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------------------


def test_json_list_of_records(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "list.json",
        json.dumps([{"content": "one", "key": "first", "n": 1}, {"text": "two"}], indent=2),
    )
    assert parse_file(path, "list.json") == [
        Chunk(
            "list.json#first", "one", {"path": "list.json", "chunk": 1, "format": "json", "record": 1, "n": 1}
        ),
        Chunk("list.json#2", "two", {"path": "list.json", "chunk": 2, "format": "json", "record": 2}),
    ]


def test_json_object_with_items(tmp_path: Path) -> None:
    path = write(
        tmp_path, "wrapped.json", json.dumps({"source": "x", "items": [{"body": "a"}, {"body": "b"}]})
    )
    chunks = parse_file(path, "w")
    assert [(c.key, c.content, c.metadata["record"]) for c in chunks] == [("w#1", "a", 1), ("w#2", "b", 2)]


def test_json_single_object_is_one_record(tmp_path: Path) -> None:
    path = write(tmp_path, "one.json", json.dumps({"content": "solo", "key": "me", "author": "ann"}))
    assert parse_file(path, "one.json") == [
        Chunk(
            "one.json#me",
            "solo",
            {"path": "one.json", "chunk": 1, "format": "json", "record": 1, "author": "ann"},
        )
    ]


def test_json_invalid_reports_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.json", '{\n  "content": "x",\n  "n": ,\n}\n')
    assert parse_error(path).reason == "invalid JSON at line 3 column 8: Expecting value"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ('"text"', "expected a JSON object or a list of objects, got string"),
        ("[]", "no records in JSON (the list is empty)"),
        ('{"items": []}', "no records in JSON (the list is empty)"),
        ('[{"content": "a"}, 3]', "record 2: expected a JSON object, got number"),
        ('[{"content": "a"}, {"nope": 1}]', "record 2: no 'content', 'text' or 'body' string field"),
        (
            '[{"content": "a", "key": "k"}, {"content": "b", "key": "k"}]',
            "record 2: duplicate key 'k' (also used by record 1)",
        ),
    ],
)
def test_json_structure_errors(tmp_path: Path, document: str, reason: str) -> None:
    assert parse_error(write(tmp_path, "d.json", document)).reason == reason


def test_json_record_too_long(tmp_path: Path) -> None:
    path = write(tmp_path, "d.json", json.dumps([{"content": "y" * 2001}]))
    assert parse_error(path, chunk_chars=100).reason.startswith("record 1: record too long (2001 characters")


# --------------------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------------------


def test_csv_rows_become_chunks(tmp_path: Path) -> None:
    text = 'name,role,notes\r\nAnn,admin,\r\n\r\nBob, dev ,"multi\nline"\r\n'
    path = write(tmp_path, "people.csv", text)
    assert parse_file(path, "people.csv") == [
        Chunk(
            "people.csv#1",
            "name: Ann\nrole: admin",
            {
                "path": "people.csv",
                "chunk": 1,
                "format": "csv",
                "row": 1,
                "fields": {"name": "Ann", "role": "admin", "notes": ""},
            },
        ),
        Chunk(
            "people.csv#2",
            "name: Bob\nrole: dev\nnotes: multi\nline",
            {
                "path": "people.csv",
                "chunk": 2,
                "format": "csv",
                "row": 2,
                "fields": {"name": "Bob", "role": " dev ", "notes": "multi\nline"},
            },
        ),
    ]


def test_csv_id_column_supplies_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "ID,title\nA-1,First\nB-2,Second\n")
    chunks = parse_file(path, "t.csv")
    assert [c.key for c in chunks] == ["t.csv#A-1", "t.csv#B-2"]
    assert chunks[1].content == "ID: B-2\ntitle: Second"


def test_csv_key_column_preferred_over_id(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "id,key,v\n1,alpha,x\n2,beta,y\n")
    assert [c.key for c in parse_file(path, "t")] == ["t#alpha", "t#beta"]


def test_csv_ragged_row_names_the_row(tmp_path: Path) -> None:
    path = write(tmp_path, "r.csv", "a,b,c\n1,2,3\n4,5\n")
    assert parse_error(path).reason == "row 2 (line 3): has 2 fields, but the header has 3"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a,b,c\n", "no data rows in CSV"),
        ("a,b\n,\n \n", "no data rows in CSV"),
        ("id,v\n1,x\n1,y\n", "row 2: duplicate key '1' (also used by row 1)"),
        ("id,v\n1,x\n,y\n", "row 2: empty value in key column 'id'"),
        ("a,,c\n1,2,3\n", "CSV header: column 2 has no name"),
        ("a,b,a\n1,2,3\n", "CSV header: duplicate column name 'a'"),
    ],
)
def test_csv_errors(tmp_path: Path, text: str, reason: str) -> None:
    assert parse_error(write(tmp_path, "e.csv", text)).reason == reason


def test_csv_row_too_long(tmp_path: Path) -> None:
    path = write(tmp_path, "big.csv", "a\n" + "x" * 2001 + "\n")
    assert parse_error(path, chunk_chars=100).reason.startswith("row 1: record too long (2004 characters")


# --------------------------------------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("d.txt", generated_text(5, paragraphs=20)),
        ("d.md", MARKDOWN),
        ("d.html", HTML),
        ("d.jsonl", jsonl({"content": "a", "m": {"x": 1}}, {"text": "b"})),
        ("d.json", json.dumps([{"content": "a"}, {"content": "b", "k": [1, 2]}])),
        ("d.csv", "id,v\n1,x\n2,y\n"),
    ],
)
def test_same_bytes_give_identical_chunks(tmp_path: Path, name: str, data: str) -> None:
    first = write(tmp_path / "one", name, data)
    second = write(tmp_path / "two", name, data)
    a = parse_file(first, "same/key", chunk_chars=150)
    b = parse_file(second, "same/key", chunk_chars=150)
    assert a
    assert a == b
    assert a == parse_file(first, "same/key", chunk_chars=150)


# --------------------------------------------------------------------------------------------------------
# File-level errors
# --------------------------------------------------------------------------------------------------------


def test_binary_file(tmp_path: Path) -> None:
    path = write(tmp_path, "image.txt", b"PK\x03\x04\x00\x00rest")
    assert parse_error(path).reason == "looks like a binary file (NUL byte at byte 4)"


def test_nul_after_first_8kb_is_not_sniffed_as_binary(tmp_path: Path) -> None:
    # Only the first 8 KB are sniffed; a later NUL is still text (just an odd character).
    path = write(tmp_path, "late.txt", b"a" * 9000 + b"\x00b")
    assert len(parse_file(path, "late", chunk_chars=10_000)) == 1


def test_utf16_file_gets_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "win.txt", "hello".encode("utf-16"))
    assert parse_error(path).reason == "looks like UTF-16 text; save it as UTF-8 and ingest again"


def test_invalid_utf8_reports_byte_offset(tmp_path: Path) -> None:
    path = write(tmp_path, "latin.txt", b"ok\nline2 caf\xe9\n")
    assert parse_error(path).reason == "not valid UTF-8 at byte 12 (line 2)"


def test_invalid_utf8_offset_counts_the_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.txt", b"\xef\xbb\xbfabc\xff")
    assert parse_error(path).reason == "not valid UTF-8 at byte 6 (line 1)"


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("bom.txt", "Hello BOM"),
        ("bom.json", '{"content": "Hello BOM"}'),
        ("bom.md", "Hello BOM"),
        ("bom.csv", "text\nHello BOM"),
    ],
)
def test_utf8_bom_is_accepted_and_stripped(tmp_path: Path, name: str, body: str) -> None:
    path = write(tmp_path, name, b"\xef\xbb\xbf" + body.encode())
    chunks = parse_file(path, "k")
    assert [c.content for c in chunks] == ["text: Hello BOM" if name.endswith(".csv") else "Hello BOM"]
    if name.endswith(".csv"):
        assert chunks[0].metadata["fields"] == {"text": "Hello BOM"}  # BOM not glued to the column name


@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n  \n", b"\xef\xbb\xbf \n"])
def test_empty_or_whitespace_file(tmp_path: Path, data: bytes) -> None:
    assert parse_error(write(tmp_path, "blank.md", data)).reason == "empty file, nothing to ingest"


def test_file_over_max_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, "big.txt", "x" * 3000)
    assert parse_error(path, max_bytes=2048).reason == (
        "file is 2.9 KB (3000 bytes), over the limit of 2.0 KB (2048 bytes); "
        "raise ingest.max_file_mb to ingest it"
    )
    assert parse_error(path, max_bytes=100).reason == (
        "file is 2.9 KB (3000 bytes), over the limit of 100 bytes; raise ingest.max_file_mb to ingest it"
    )
    assert len(parse_file(path, "big", max_bytes=3000, chunk_chars=3000)) == 1  # exactly at the limit


def test_file_growing_after_stat_is_still_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # stat() says the file is small, but more bytes arrive before it is read: the read itself is capped.
    path = write(tmp_path, "growing.txt", "y" * 500)
    real_stat = Path.stat

    def small_stat(self: Path, *, follow_symlinks: bool = True) -> os.stat_result:
        result = real_stat(self, follow_symlinks=follow_symlinks)
        fields = list(result)
        fields[stat.ST_SIZE] = 10
        return os.stat_result(fields)

    monkeypatch.setattr(Path, "stat", small_stat)
    assert parse_error(path, max_bytes=200).reason == (
        "file is over the limit of 200 bytes; raise ingest.max_file_mb to ingest it"
    )


def test_unsupported_suffix_lists_supported_ones(tmp_path: Path) -> None:
    error = parse_error(write(tmp_path, "report.pdf", "text"))
    assert error.reason == (
        "unsupported file type .pdf; supported: .csv, .htm, .html, .json, .jsonl, .markdown, .md, .txt"
    )
    assert parse_error(write(tmp_path, "README", "text")).reason.startswith(
        "unsupported file type (no suffix);"
    )


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    directory = tmp_path / "folder.md"
    directory.mkdir()
    assert parse_error(directory).reason == "is a directory, not a file"


def test_missing_file_reports_strerror(tmp_path: Path) -> None:
    assert parse_error(tmp_path / "gone.txt").reason == "cannot read file: No such file or directory"


def test_parse_file_rejects_tiny_chunk_size(tmp_path: Path) -> None:
    path = write(tmp_path, "a.jsonl", jsonl({"content": "x"}))
    with pytest.raises(ValueError, match="chunk_chars must be at least 100, got 50"):
        parse_file(path, "a", chunk_chars=50)
