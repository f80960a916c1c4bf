"""Regenerate docs/configuration.md from core.config.SETTINGS: python docs/gen_config_doc.py"""

from __future__ import annotations

from pathlib import Path

from core.config import SETTINGS


def render() -> str:
    lines = [
        "# Configuration",
        "",
        "memdeck reads `config.toml` in the data dir (TOML, written atomically with tomli-w). Change it with",
        "`memdeck config set KEY VALUE` (validated; every change is audited) or by hand. For one process,",
        "an environment variable `MEMDECK__SECTION__KEY` overrides the file (e.g. `MEMDECK__SEARCH__TOP_K=20`).",
        "`memdeck config show` prints the effective value of every setting and where it came from.",
        "Security settings (`audit.*`, `roles.*`, `approvals.*`, marked *no env*) ignore environment",
        "variables: whoever runs the process must not be able to give themselves a role that way.",
        "Changing config needs the admin role.",
        "",
        "This page is generated from `core/config.py` by `docs/gen_config_doc.py`; a test fails if they differ.",
        "",
        "| key | default | allowed | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for s in SETTINGS:
        if s.choices:
            allowed = " / ".join(s.choices)
        elif s.minimum is not None or s.maximum is not None:
            allowed = f"{s.minimum:g} .. {s.maximum:g}"
        else:
            allowed = s.kind.__name__
        note = "" if s.env_override else " *(no env)*"
        lines.append(f"| `{s.key}` | `{s.default!r}` | {allowed} | {s.doc}{note} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    Path(__file__).with_name("configuration.md").write_text(render(), encoding="utf-8")
