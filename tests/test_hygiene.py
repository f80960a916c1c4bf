"""Layering and start-up promises: core never imports Textual; --help imports nothing heavy."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import core

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_every_core_module_imports_without_textual() -> None:
    names = [m.name for m in pkgutil.walk_packages(core.__path__, "core.")]
    assert "core.memdeck" in names and "core.vectors" in names
    code = ("import importlib, sys\n"
            f"for n in {names!r}:\n    importlib.import_module(n)\n"
            "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
            "print(','.join(bad))\n")
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"core pulled in: {proc.stdout.strip()}"


def test_help_imports_no_heavy_module() -> None:
    code = ("import sys\nfrom tui.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = ['torch', 'sentence_transformers', 'llama_cpp', 'transformers', 'onnxruntime', 'sqlalchemy',"
            " 'sqlmodel', 'numpy', 'hnswlib', 'textual', 'peft']\n"
            "print('HEAVY:' + ','.join(h for h in heavy if h in sys.modules))\n")
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert "usage: memdeck" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY:"


def test_cold_search_does_not_import_torch(tmp_path: Path) -> None:
    """The cold query path is onnxruntime-only once the ONNX file exists; torch is only for bulk/export."""
    code = ("import sys\nsys.path.insert(0, 'tests')\nfrom helpers import WordHashEmbedder\n"
            "from core.memdeck import Memdeck\n"
            f"md = Memdeck.open({str(tmp_path)!r}, embedder=WordHashEmbedder(), startup_check=False)\n"
            "md.put('c', 'k', 'hello world'); md.search('hello'); md.close()\n"
            "print(','.join(h for h in ['torch', 'sentence_transformers', 'transformers', 'llama_cpp']"
            " if h in sys.modules))\n")
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
