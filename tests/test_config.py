"""Tests for core.config: documented defaults, validated ``config set``, the TOML file, env overrides,
and the ``memdeck config`` commands (which go through ``Memdeck`` so changes are audited)."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest
from helpers import WordHashEmbedder

from core.config import BY_KEY, SETTINGS, Config
from core.errors import ConfigError, StorageError
from core.memdeck import Memdeck
from tui.cli import main


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MEMDECK__* override from the surrounding shell may leak into these tests."""
    for name in list(os.environ):
        if name.startswith("MEMDECK__"):
            monkeypatch.delenv(name)


@pytest.fixture
def cfg_path(tmp_path: Path) -> Path:
    return tmp_path / "config.toml"


@pytest.fixture
def cfg(cfg_path: Path) -> Config:
    return Config.load(cfg_path)


@pytest.fixture
def fast_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLI commands open Memdeck with the deterministic embedder instead of the real model."""
    monkeypatch.setattr("core.memdeck.Embedder", lambda *a, **k: WordHashEmbedder())


def config_error(fn, *args: object) -> ConfigError:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        fn(*args)
    return info.value


# ----------------------------------------------------------------------------- defaults
def test_missing_file_means_all_defaults(cfg: Config, cfg_path: Path) -> None:
    assert not cfg_path.exists()
    assert cfg.get("search.top_k") == 10
    assert cfg.get("search.vector_weight") == 1.0
    assert cfg.get("sync.auto_repair") is True
    assert cfg.get("storage.synchronous") == "FULL"
    assert cfg.get("embedding.model_path") == ""
    assert cfg.get("ingest.max_file_mb") == 20.0
    for setting in SETTINGS:
        assert cfg.get(setting.key) == setting.default
        assert cfg.source_of(setting.key) == "default"
    assert not cfg_path.exists(), "loading must not create the file"


def test_every_setting_is_documented_and_its_default_is_valid() -> None:
    assert len(BY_KEY) == len(SETTINGS), "duplicate setting keys"
    for setting in SETTINGS:
        section, _, name = setting.key.partition(".")
        assert section and name and "." not in name, setting.key
        assert setting.doc.strip().endswith(".") and len(setting.doc) > 10, setting.key
        assert setting.parse(setting.default) == setting.default, setting.key


def test_get_unknown_key_is_a_config_error(cfg: Config) -> None:
    err = config_error(cfg.get, "search.nope")
    assert err.message == "unknown setting 'search.nope'"
    assert err.exit_code == 2


def test_rows_list_every_setting_with_value_source_and_doc(cfg: Config) -> None:
    cfg.set("search.top_k", "3")
    rows = cfg.rows()
    assert [r["key"] for r in rows] == [s.key for s in SETTINGS]
    by_key = {r["key"]: r for r in rows}
    assert by_key["search.top_k"] == {"key": "search.top_k", "value": 3, "default": 10, "source": "file",
                                      "doc": BY_KEY["search.top_k"].doc}
    assert by_key["index.M"]["source"] == "default"


# ----------------------------------------------------------------------------- set: types and limits
@pytest.mark.parametrize(("raw", "expected"), [("7", 7), (" 42 ", 42), ("1000", 1000), ("1", 1)])
def test_set_int_parses(cfg: Config, raw: str, expected: int) -> None:
    old, new = cfg.set("search.top_k", raw)
    assert (old, new) == (10, expected)
    assert type(new) is int
    assert cfg.get("search.top_k") == expected


@pytest.mark.parametrize("raw", ["abc", "3.5", "1e3", "0x10", "", "true"])
def test_set_int_rejects_non_integers(cfg: Config, raw: str) -> None:
    err = config_error(cfg.set, "search.top_k", raw)
    assert err.message == f"search.top_k: expected int, got {raw!r}"
    assert err.hint is not None and "default is 10" in err.hint and "Results returned by default." in err.hint
    assert cfg.get("search.top_k") == 10


@pytest.mark.parametrize(("raw", "expected"), [("0.5", 0.5), ("2", 2.0), ("1e1", 10.0), ("0", 0.0)])
def test_set_float_parses(cfg: Config, raw: str, expected: float) -> None:
    _, new = cfg.set("search.vector_weight", raw)
    assert new == expected and type(new) is float


def test_set_float_rejects_words(cfg: Config) -> None:
    err = config_error(cfg.set, "search.keyword_weight", "heavy")
    assert err.message == "search.keyword_weight: expected float, got 'heavy'"


@pytest.mark.parametrize("key", ["search.vector_weight", "ingest.max_file_mb", "index.checkpoint_interval_s"])
def test_set_float_rejects_nan(cfg: Config, key: str) -> None:
    with pytest.raises(ConfigError):
        cfg.set(key, "nan")


@pytest.mark.parametrize("word", ["true", "TRUE", "yes", "on", "1"])
def test_set_bool_true_words(cfg: Config, word: str) -> None:
    cfg.set("sync.auto_repair", "false")
    assert cfg.set("sync.auto_repair", word) == (False, True)
    assert cfg.get("sync.auto_repair") is True


@pytest.mark.parametrize("word", ["false", "No", "off", "0"])
def test_set_bool_false_words(cfg: Config, word: str) -> None:
    assert cfg.set("sync.auto_repair", word) == (True, False)
    assert cfg.get("sync.auto_repair") is False


@pytest.mark.parametrize("word", ["maybe", "2", "y", ""])
def test_set_bool_rejects_other_words(cfg: Config, word: str) -> None:
    err = config_error(cfg.set, "sync.auto_repair", word)
    assert err.message == f"sync.auto_repair: expected bool, got {word!r}"


def test_set_choices(cfg: Config) -> None:
    assert cfg.set("storage.synchronous", "NORMAL") == ("FULL", "NORMAL")
    err = config_error(cfg.set, "storage.synchronous", "OFF")
    assert err.message == "storage.synchronous: 'OFF' is not one of FULL, NORMAL"
    err = config_error(cfg.set, "embedding.query_backend", "tensorflow")
    assert err.message == "embedding.query_backend: 'tensorflow' is not one of onnx, torch"
    assert cfg.get("storage.synchronous") == "NORMAL"


@pytest.mark.parametrize(("key", "raw", "message"), [
    ("search.top_k", "0", "search.top_k: 0 is below the minimum 1"),
    ("search.top_k", "1001", "search.top_k: 1001 is above the maximum 1000"),
    ("index.M", "3", "index.M: 3 is below the minimum 4"),
    ("search.vector_weight", "-0.5", "search.vector_weight: -0.5 is below the minimum 0"),
    ("search.vector_weight", "inf", "search.vector_weight: expected float, got 'inf'"),
    ("ingest.max_file_mb", "0.0001", "ingest.max_file_mb: 0.0001 is below the minimum 0.001"),
])
def test_set_min_max(cfg: Config, key: str, raw: str, message: str) -> None:
    err = config_error(cfg.set, key, raw)
    assert err.message == message
    assert cfg.source_of(key) == "default"


def test_set_limits_are_inclusive(cfg: Config) -> None:
    assert cfg.set("search.top_k", "1")[1] == 1
    assert cfg.set("search.top_k", "1000")[1] == 1000
    assert cfg.set("ingest.max_file_mb", "0.001")[1] == 0.001


def test_set_model_path_must_be_an_existing_dir(cfg: Config, tmp_path: Path) -> None:
    missing = tmp_path / "no-model-here"
    err = config_error(cfg.set, "embedding.model_path", str(missing))
    assert err.message.startswith(f"embedding.model_path: {missing} is not a directory")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    assert cfg.set("embedding.model_path", str(model_dir)) == ("", str(model_dir))


def test_rejected_set_does_not_touch_the_file(cfg: Config, cfg_path: Path) -> None:
    cfg.set("search.top_k", "5")
    before = cfg_path.read_bytes()
    config_error(cfg.set, "search.top_k", "-1")
    config_error(cfg.set, "search.rrf_k", "many")
    assert cfg_path.read_bytes() == before
    assert Config.load(cfg_path).get("search.top_k") == 5


# ----------------------------------------------------------------------------- set: unknown keys
@pytest.mark.parametrize("key", ["serch.top_k", "top_k", "query.top_k"])
def test_unknown_key_with_same_name_in_another_section_suggests_it(cfg: Config, key: str) -> None:
    err = config_error(cfg.set, key, "3")
    assert err.message == f"unknown setting {key!r}"
    assert err.hint == "did you mean search.top_k?"
    assert str(err) == f"unknown setting {key!r}\n  hint: did you mean search.top_k?"


def test_unknown_key_far_from_any_setting_points_to_config_show(cfg: Config, cfg_path: Path) -> None:
    err = config_error(cfg.set, "colour.scheme", "dark")
    assert err.message == "unknown setting 'colour.scheme'"
    assert err.hint is not None and "memdeck config show" in err.hint
    assert not cfg_path.exists()


@pytest.mark.parametrize("key", ["search.topk", "search.top_kk", "search.top-k"])
def test_unknown_key_with_a_typo_in_the_name_suggests_the_near_key(cfg: Config, key: str) -> None:
    err = config_error(cfg.set, key, "3")
    assert err.hint is not None and "search.top_k" in err.hint


# ----------------------------------------------------------------------------- the file
def test_set_writes_toml_with_tomli_w_and_reloads(cfg: Config, cfg_path: Path) -> None:
    cfg.set("search.top_k", "7")
    cfg.set("sync.auto_repair", "off")
    cfg.set("search.vector_weight", "0.25")
    cfg.set("storage.synchronous", "NORMAL")
    text = cfg_path.read_text(encoding="utf-8")
    assert "[search]" in text and "[sync]" in text and "[storage]" in text
    assert tomllib.loads(text) == {
        "search": {"top_k": 7, "vector_weight": 0.25},
        "storage": {"synchronous": "NORMAL"},
        "sync": {"auto_repair": False},
    }
    again = Config.load(cfg_path)
    assert again.get("search.top_k") == 7 and type(again.get("search.top_k")) is int
    assert again.get("sync.auto_repair") is False
    assert again.get("search.vector_weight") == 0.25
    assert again.get("storage.synchronous") == "NORMAL"
    assert again.source_of("search.top_k") == "file"
    assert again.source_of("search.rrf_k") == "default"


def test_set_keeps_the_other_keys_already_in_the_file(cfg_path: Path) -> None:
    cfg_path.write_text('[index]\nM = 32\n\n[embedding]\nquery_backend = "torch"\n', encoding="utf-8")
    cfg = Config.load(cfg_path)
    assert cfg.set("index.ef_search", "300") == (100, 300)
    assert tomllib.loads(cfg_path.read_text(encoding="utf-8")) == {
        "embedding": {"query_backend": "torch"}, "index": {"M": 32, "ef_search": 300}}


def test_set_is_atomic_no_temp_file_left(cfg: Config, cfg_path: Path) -> None:
    cfg.set("search.top_k", "4")
    cfg.set("search.top_k", "5")
    assert sorted(p.name for p in cfg_path.parent.iterdir()) == ["config.toml"]


def test_failed_write_leaves_the_old_file_and_value(cfg: Config, cfg_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    cfg.set("search.top_k", "4")
    before = cfg_path.read_bytes()

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("core.paths.os.replace", broken_replace)
    with pytest.raises(StorageError, match="the old config is unchanged"):
        cfg.set("search.top_k", "9")
    assert cfg_path.read_bytes() == before
    assert cfg.get("search.top_k") == 4
    assert Config.load(cfg_path).get("search.top_k") == 4


def test_invalid_toml_names_the_file(cfg_path: Path) -> None:
    cfg_path.write_text("[search\ntop_k = 3\n", encoding="utf-8")
    err = config_error(Config.load, cfg_path)
    assert err.message.startswith(f"{cfg_path} is not valid TOML:")
    assert err.hint is not None and "delete it" in err.hint
    assert err.exit_code == 2


def test_non_utf8_file_names_the_file(cfg_path: Path) -> None:
    cfg_path.write_bytes(b"[search]\ntop_k = 3 # \xff\xfe\n")
    err = config_error(Config.load, cfg_path)
    assert err.message.startswith(f"{cfg_path} is not valid TOML:")


def test_unknown_key_in_file_is_an_error(cfg_path: Path) -> None:
    cfg_path.write_text("[search]\ntop_k = 3\ntopk = 4\n", encoding="utf-8")
    err = config_error(Config.load, cfg_path)
    assert err.message == f"{cfg_path}: unknown setting 'search.topk'"
    assert err.hint is not None and "config show" in err.hint


def test_top_level_value_in_file_is_an_error(cfg_path: Path) -> None:
    cfg_path.write_text("top_k = 3\n", encoding="utf-8")
    err = config_error(Config.load, cfg_path)
    assert err.message == f"{cfg_path}: top-level key 'top_k' must be a [section]"


@pytest.mark.parametrize(("body", "message"), [
    ("[search]\ntop_k = 0\n", "search.top_k: 0 is below the minimum 1"),
    ('[search]\ntop_k = "ten"\n', "search.top_k: expected int, got 'ten'"),
    ("[search]\ntop_k = 2.5\n", "search.top_k: expected int, got 2.5"),
    ("[sync]\nauto_repair = 1\n", "sync.auto_repair: expected bool, got 1"),
    ('[storage]\nsynchronous = "OFF"\n', "storage.synchronous: 'OFF' is not one of FULL, NORMAL"),
])
def test_invalid_value_in_file_is_an_error(cfg_path: Path, body: str, message: str) -> None:
    cfg_path.write_text(body, encoding="utf-8")
    err = config_error(Config.load, cfg_path)
    assert message in err.message


def test_invalid_value_in_file_names_the_file(cfg_path: Path) -> None:
    cfg_path.write_text("[search]\ntop_k = 0\n", encoding="utf-8")
    err = config_error(Config.load, cfg_path)
    assert str(cfg_path) in str(err)


def test_file_int_for_float_setting_is_accepted(cfg_path: Path) -> None:
    cfg_path.write_text("[index]\ncheckpoint_interval_s = 30\n", encoding="utf-8")
    cfg = Config.load(cfg_path)
    assert cfg.get("index.checkpoint_interval_s") == 30.0
    assert type(cfg.get("index.checkpoint_interval_s")) is float


# ----------------------------------------------------------------------------- environment
def test_env_override_wins_over_file_and_default(cfg_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg_path.write_text("[search]\ntop_k = 3\n", encoding="utf-8")
    monkeypatch.setenv("MEMDECK__SEARCH__TOP_K", "7")
    monkeypatch.setenv("MEMDECK__SYNC__AUTO_REPAIR", "no")
    cfg = Config.load(cfg_path)
    assert cfg.get("search.top_k") == 7
    assert cfg.source_of("search.top_k") == "env"
    assert cfg.get("sync.auto_repair") is False
    assert cfg.source_of("sync.auto_repair") == "env"
    assert cfg.source_of("search.rrf_k") == "default"
    row = next(r for r in cfg.rows() if r["key"] == "search.top_k")
    assert (row["value"], row["source"]) == (7, "env")


def test_env_override_still_wins_after_set(cfg_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMDECK__SEARCH__TOP_K", "7")
    cfg = Config.load(cfg_path)
    assert cfg.set("search.top_k", "3") == (7, 3)
    assert cfg.get("search.top_k") == 7
    assert cfg.source_of("search.top_k") == "env"
    monkeypatch.delenv("MEMDECK__SEARCH__TOP_K")
    reloaded = Config.load(cfg_path)
    assert (reloaded.get("search.top_k"), reloaded.source_of("search.top_k")) == (3, "file")


def test_env_override_is_validated(cfg_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMDECK__SEARCH__TOP_K", "0")
    err = config_error(Config.load, cfg_path)
    assert err.message == "$MEMDECK__SEARCH__TOP_K: search.top_k: 0 is below the minimum 1"


def test_invalid_env_override_names_the_variable(cfg_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMDECK__SEARCH__TOP_K", "abc")
    err = config_error(Config.load, cfg_path)
    assert "MEMDECK__SEARCH__TOP_K" in str(err)


def test_memdeck_uses_env_override(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMDECK__SEARCH__TOP_K", "2")
    with Memdeck.open(data_dir, embedder=WordHashEmbedder()) as md:
        md.put_many([{"collection": "notes", "key": f"k{i}", "content": f"shared word number {i}"}
                     for i in range(5)])
        assert len(md.search("shared word").hits) == 2


# ----------------------------------------------------------------------------- CLI
def test_cli_config_show_json_lists_all_settings_with_docs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.toml").write_text("[index]\nM = 24\n", encoding="utf-8")
    monkeypatch.setenv("MEMDECK__SEARCH__TOP_K", "7")
    assert main(["config", "show", "--json", "--data-dir", str(data)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["path"] == str((data / "config.toml").resolve())
    assert [r["key"] for r in out["settings"]] == [s.key for s in SETTINGS]
    for row, setting in zip(out["settings"], SETTINGS, strict=True):
        assert row["doc"] == setting.doc
        assert row["default"] == setting.default
        assert set(row) == {"key", "value", "default", "source", "doc"}
    by_key = {r["key"]: r for r in out["settings"]}
    assert (by_key["index.M"]["value"], by_key["index.M"]["source"]) == (24, "file")
    assert (by_key["search.top_k"]["value"], by_key["search.top_k"]["source"]) == (7, "env")
    assert (by_key["index.ef_search"]["value"], by_key["index.ef_search"]["source"]) == (100, "default")


def test_cli_config_show_human(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "search.top_k = 10  (default)" in out
    assert BY_KEY["search.top_k"].doc in out
    assert out.count(" = ") >= len(SETTINGS)


def test_cli_config_show_on_invalid_file_exits_2_naming_it(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.toml").write_text("[search]\ntop_k = = 3\n", encoding="utf-8")
    assert main(["config", "show", "--data-dir", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert f"error: {(tmp_path / 'config.toml').resolve()} is not valid TOML" in captured.err
    assert captured.out == ""


def test_cli_config_set_persists_and_audits(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            fast_cli: None) -> None:
    data = tmp_path / "data"
    assert main(["config", "set", "search.top_k", "7", "--data-dir", str(data)]) == 0
    assert capsys.readouterr().out.strip() == "search.top_k: 10 -> 7"
    assert main(["--json", "config", "set", "sync.auto_repair", "no", "--data-dir", str(data)]) == 0
    assert json.loads(capsys.readouterr().out) == {"key": "sync.auto_repair", "old": True, "new": False}
    assert Config.load(data / "config.toml").get("search.top_k") == 7
    with Memdeck.open(data, embedder=WordHashEmbedder()) as md:
        assert md.config.get("search.top_k") == 7
        with md.db.read() as conn:
            rows = conn.execute("SELECT action, target, details FROM audit_events WHERE action = 'config.set'"
                                " ORDER BY seq").fetchall()
    assert [(r[0], r[1]) for r in rows] == [("config.set", "search.top_k"),
                                            ("config.set", "sync.auto_repair")]
    assert json.loads(rows[0][2]) == {"old": 10, "new": 7}
    assert json.loads(rows[1][2]) == {"old": True, "new": False}


def test_cli_config_set_invalid_exits_2_and_records_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], fast_cli: None) -> None:
    data = tmp_path / "data"
    assert main(["config", "set", "search.top_k", "lots", "--data-dir", str(data)]) == 2
    captured = capsys.readouterr()
    assert "error: search.top_k: expected int, got 'lots'" in captured.err
    assert captured.out == ""
    assert main(["config", "set", "top_k", "3", "--json", "--data-dir", str(data)]) == 2
    err = json.loads(capsys.readouterr().out)
    assert err == {"error": "ConfigError", "message": "unknown setting 'top_k'",
                   "hint": "did you mean search.top_k?"}
    assert not (data / "config.toml").exists()
    with Memdeck.open(data, embedder=WordHashEmbedder()) as md, md.db.read() as conn:
        sql = "SELECT count(*) FROM audit_events WHERE action = 'config.set'"
        assert conn.execute(sql).fetchone()[0] == 0


def test_memdeck_config_set_changes_the_live_config(md: Memdeck) -> None:
    result = md.config_set("search.top_k", "3")
    assert result == {"key": "search.top_k", "old": 10, "new": 3}
    assert md.config.get("search.top_k") == 3
    assert Config.load(md.layout.config_path).get("search.top_k") == 3
    with md.db.read() as conn:
        assert conn.execute("SELECT action, target FROM audit_events").fetchall() == [
            ("config.set", "search.top_k")]


def test_configuration_doc_matches_settings() -> None:
    import importlib.util

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("gen_config_doc", root / "docs" / "gen_config_doc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (root / "docs" / "configuration.md").read_text(encoding="utf-8") == module.render(), \
        "docs/configuration.md is out of date: run python docs/gen_config_doc.py"
