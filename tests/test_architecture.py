"""The architecture's contracts (docs/architecture.md): pipeline layers, no subpackage importing
another's private ``_module``, no module over 600 lines, the Fitzpatrick vocabulary defined once."""

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "fairskin"
MAX_LINES = 600


def test_import_contracts_are_kept():
    pytest.importorskip("importlinter")
    # the contracts live in pyproject.toml; run as CI runs them (a fresh interpreter, from the root)
    exe = Path(sys.executable).with_name("lint-imports")
    cmd = [str(exe)] if exe.exists() else [shutil.which("lint-imports") or "lint-imports"]
    done = subprocess.run([*cmd, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _private_cross_imports() -> list[str]:
    bad = []
    for f in PKG.rglob("*.py"):
        rel = f.relative_to(PKG).parts
        own = rel[0] if len(rel) > 1 else None
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "fairskin" and len(parts) >= 3 and parts[2].startswith("_") \
                        and not parts[2].startswith("__") and parts[1] != own:
                    bad.append(f"{f.relative_to(ROOT)} -> {name}")
    return bad


def test_no_subpackage_imports_another_ones_private_module():
    assert _private_cross_imports() == []


def test_no_module_is_over_600_lines():
    long = {str(f.relative_to(ROOT)): n for f in PKG.rglob("*.py")
            if (n := len(f.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_the_roman_numerals_of_the_skin_types_are_written_once():
    pattern = re.compile(r"""\(\s*["']I["']\s*,\s*["']II["']\s*,\s*["']III["']""")
    where = [str(f.relative_to(ROOT)) for f in PKG.rglob("*.py") if pattern.search(f.read_text(encoding="utf-8"))]
    assert where == ["fairskin/skintone/_vocab.py"]
