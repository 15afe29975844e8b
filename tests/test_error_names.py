"""Library errors name Python arguments; only ``fairskin.cli`` writes command-line flags
(docs/architecture.md, :mod:`fairskin.errors`). The command line rewrites ``fst_source='human'`` as
``--fst-source human`` in one place (``cli._common.flag_message``), so a library message that says
``--fst-source`` itself is wrong from Python and a second definition of the flag's name.

The check walks the AST of ``fairskin/`` outside ``cli/`` and looks at the text of every error a
module builds (``...Error(...)``, with the strings assigned to the names it uses), the keys of output
dicts (what ``claim_outputs`` names in its errors), subscripts of those dicts, and the renaming
arguments (``arg=``, ``option=``, ``weights_only_loads(...)``). A ``--flag`` in a quoted command a
user would run (```fairskin label DATA --masks M```, ``(fairskin train-ddpm DATA --out DIR)``) is
fine."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "fairskin"

FLAG = re.compile(r"(?<![\w-])--(?:[a-z][a-z0-9-]*|\{\})")  # "--{}": a flag built from a name
#: a command a user would run: backquoted, or in parentheses starting with ``fairskin COMMAND``
EXAMPLE = re.compile(r"`[^`]*`|\(fairskin [a-z{}-]+[^()]*\)")
#: renaming arguments: the name of the argument a helper's messages are about
RENAMING = {"arg", "option"}

#: flags that stay in library text, ``"path: the text"`` -> why
ALLOWED = {
    "fairskin/audits/classifier/_settings.py: --json (from Python: result.to_json(path))":
        "a settings file read from Python names a command-line-only option: the message says which "
        "flag that key is and what the Python call does instead",
    "fairskin/audits/classifier/_settings.py: --html (from Python: fairskin.reports.render_audit_report(result.to_dict(), path))":
        "as --json",
    "fairskin/audits/classifier/_settings.py: --quiet (from Python: progress=False)": "as --json",
    "fairskin/audits/classifier/_settings.py: --no-label-confusion (from Python: label_confusion=None)": "as --json",
}


def _text(node) -> str | None:
    """A string constant's text; an f-string's with ``{}`` for each placeholder."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _strings(node) -> list[str]:
    """Every text in ``node``: whole f-strings (not their pieces), and strings inside placeholders."""
    t = _text(node)
    if t is not None:
        inner = [v.value for v in getattr(node, "values", []) if isinstance(v, ast.FormattedValue)]
        return [t, *(s for v in inner for s in _strings(v))]
    return [s for child in ast.iter_child_nodes(node) for s in _strings(child)]


def _called(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _module_constants(tree) -> dict[str, list[str]]:
    """Module-level names bound to strings (or dicts/tuples of them): their texts."""
    out = {}
    for n in tree.body:
        if isinstance(n, (ast.Assign, ast.AnnAssign)) and n.value is not None:
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    out[t.id] = _strings(n.value)
    return out


def _loop_sources(tree, consts) -> dict[str, list[str]]:
    """Loop variables over a module constant (``for key, flag in _CLI_ONLY.items()``): its texts."""
    out: dict[str, list[str]] = {}
    for n in ast.walk(tree):
        if isinstance(n, (ast.For, ast.comprehension)):
            used = [m.id for m in ast.walk(n.iter) if isinstance(m, ast.Name) and m.id in consts]
            for t in ast.walk(n.target):
                if isinstance(t, ast.Name) and used:
                    out.setdefault(t.id, []).extend(s for u in used for s in consts[u])
    return out


def flags_in(text: str) -> list[str]:
    """The ``--flags`` ``text`` names outside a quoted command example."""
    return FLAG.findall(EXAMPLE.sub("", text))


def library_flag_texts(root: Path = PKG) -> dict[str, list[str]]:
    """``"path:line": [texts naming a flag]`` for every error text, output key and renaming
    argument of the library (``root`` outside ``cli/``)."""
    found: dict[str, list[str]] = {}
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root.parent)
        if rel.parts[1] == "cli":
            continue
        tree = ast.parse(f.read_text(encoding="utf-8"))
        consts = _module_constants(tree)
        loops = _loop_sources(tree, consts)
        local: dict[str, list[str]] = {}  # names assigned in any function (a message built in parts)
        for n in ast.walk(tree):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for a in ast.walk(n):
                    if isinstance(a, ast.Assign):
                        for t in a.targets:
                            if isinstance(t, ast.Name):
                                local.setdefault(t.id, []).extend(_strings(a.value))

        def add(node, texts, *, whole=False):
            bad = [t for t in texts if (FLAG.match(t) if whole else flags_in(t))]
            bad = [t for t in bad if f"{rel.as_posix()}: {t}" not in ALLOWED]
            if bad:
                found.setdefault(f"{rel.as_posix()}:{node.lineno}", []).extend(dict.fromkeys(bad))

        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                if _called(node).endswith("Error"):
                    names = [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]
                    add(node, _strings(node) + [s for n in names
                                                for s in consts.get(n, []) + loops.get(n, []) + local.get(n, [])])
                renaming = [k.value for k in node.keywords if k.arg in RENAMING]
                if _called(node) == "weights_only_loads":
                    renaming += node.args[:1]
                add(node, [s for v in renaming for s in _strings(v)], whole=True)
            elif isinstance(node, (ast.Dict, ast.DictComp)):
                keys = node.keys if isinstance(node, ast.Dict) else [node.key]
                add(node, [t for k in keys if k is not None and (t := _text(k)) is not None], whole=True)
            elif isinstance(node, ast.Subscript):
                add(node, [t for t in [_text(node.slice)] if t is not None], whole=True)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                pairs = list(zip(a.args[len(a.args) - len(a.defaults):], a.defaults)) + \
                    [(k, d) for k, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]
                add(node, [t for p, d in pairs if p.arg in RENAMING and (t := _text(d)) is not None], whole=True)
    return found


def test_library_errors_name_python_arguments_not_flags():
    assert library_flag_texts() == {}


def test_the_check_finds_a_flag_in_an_error_a_key_a_renaming_argument_and_a_message_part(tmp_path):
    pkg = tmp_path / "fairskin"
    (pkg / "label").mkdir(parents=True)
    (pkg / "cli").mkdir()
    (pkg / "label" / "_run.py").write_text(
        '_HINT = "pass --overwrite to replace it"\n'
        'def run(workers, out, arg: str = "--labels"):\n'
        '    if workers < 1:\n'
        '        raise InputError(f"--workers must be at least 1, got {workers}")\n'
        '    if out.exists():\n'
        '        raise InputError(f"out: {out} exists; " + _HINT)\n'
        '    read(out, arg="--masks")\n'
        '    with claim_outputs({"--json": out, f"--save-predictions ({out})": out}):\n'
        '        raise InputError("fine: run `fairskin label DATA --masks M` (fairskin balance DATA --out DIR)")\n'
        '    hint = f"lower --n {workers}"\n'
        '    raise InputError("n: too many images; " + hint)\n')
    (pkg / "cli" / "label.py").write_text('raise InputError("--workers: the command line may say it")\n')
    found = library_flag_texts(pkg)
    assert sorted(found) == sorted(["fairskin/label/_run.py:2", "fairskin/label/_run.py:4", "fairskin/label/_run.py:6",
                             "fairskin/label/_run.py:7", "fairskin/label/_run.py:8", "fairskin/label/_run.py:11"])
    assert found["fairskin/label/_run.py:4"] == ["--workers must be at least 1, got {}"]
    assert found["fairskin/label/_run.py:6"] == ["pass --overwrite to replace it"]
    assert found["fairskin/label/_run.py:8"] == ["--json", "--save-predictions ({})"]
    assert found["fairskin/label/_run.py:11"] == ["lower --n {}"]  # a message built from a local name


@pytest.mark.parametrize("text, flags", [
    ("workers: must be at least 1", []),
    ("--label-confusion: drop it", ["--label-confusion"]),
    ("run `fairskin label DATA --masks M` first", []),
    ("(fairskin train-{} DATA --out DIR)", []),
    ("give label_confusion=None (--no-label-confusion)", ["--no-label-confusion"]),
])
def test_a_quoted_command_is_an_example_and_anything_else_a_flag(text, flags):
    assert flags_in(text) == flags
