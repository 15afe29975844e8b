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


NUMERALS = ("I", "II", "III", "IV", "V", "VI")
GROUP_LABELS = ("I-II", "III-IV", "V-VI")
#: the names ``fairskin.skintone`` defines the vocabulary under; no other module binds them
VOCAB_NAMES = {"FST_TYPES", "ROMAN", "FST_GROUPS", "GROUP_NAMES", "DDI_CODE_TO_GROUP"}
#: second definitions known and left to another change, ``"path: what"`` (no line number: the
#: file may move under them) -> why it is still there
PENDING: dict[str, str] = {}  # path: what -> why it is still there (none left)


def _literal_strings(nodes) -> list[str]:
    return [n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _defaults(node) -> list:
    """The expressions ``node`` gives as a default or assigned value (where a default target hides)."""
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        return [node.value]
    if isinstance(node, ast.arguments):
        return [d for d in node.defaults + node.kw_defaults if d is not None]
    if isinstance(node, ast.Call):
        f = _called(node)
        return ([node.args[0]] if f in ("Option", "Argument") and node.args else []) + \
            ([node.args[-1]] if f in ("next", "get", "getattr", "pop") and len(node.args) >= 2 else []) + \
            [k.value for k in node.keywords if k.arg == "default"]
    return []


def _called(node: ast.Call) -> str:
    return node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")


def _is_type_range(node) -> bool:
    """``range(1, 7)`` or ``np.arange(1, 7)``: the six types counted out instead of ``FST_TYPES``."""
    return isinstance(node, ast.Call) and _called(node) in ("range", "arange") and not node.keywords and \
        [getattr(a, "value", None) for a in node.args] == [1, 7]


def vocabulary_definitions(source: str) -> list[tuple[int, str]]:
    """(line, what) for each definition of the skin-type vocabulary in ``source``: a tuple, list,
    set or dict (keys or values) holding three or more of the numerals I..VI, two or more of the
    group names I-II/III-IV/V-VI, or (not as a table's keys) the types 1..6 written out; the types
    counted out as ``range(1, 7)``; "V-VI" as a default (also of ``next``/``.get``) or assigned
    value; a binding of one of the vocabulary's own names (``ROMAN = ...``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        parts = []
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            parts = [node.elts]
        elif isinstance(node, ast.Dict):
            parts = [[k for k in node.keys if k is not None], node.values]
        for elts in parts:
            strs = _literal_strings(elts)
            if sum(x in NUMERALS for x in strs) >= 3:
                found.append((node.lineno, "writes the numerals"))
            if sum(x in GROUP_LABELS for x in strs) >= 2:
                found.append((node.lineno, "writes the group names"))
            if not isinstance(node, ast.Dict) and [getattr(e, "value", None) for e in elts] == [1, 2, 3, 4, 5, 6]:
                found.append((node.lineno, "writes the types 1..6"))
        if _is_type_range(node):
            found.append((node.lineno, "counts the types 1..6"))
        defaults = _defaults(node)
        if any(isinstance(d, ast.Constant) and d.value == "V-VI" for d in defaults):
            found.append((getattr(node, "lineno", None) or defaults[0].lineno, 'defaults to "V-VI"'))
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        found += [(node.lineno, f"binds {t.id}") for t in targets if isinstance(t, ast.Name) and t.id in VOCAB_NAMES]
    return found


@pytest.mark.parametrize("source, what", [
    ('ROMAN = ("I", "II", "III", "IV", "V", "VI")', "writes the numerals"),
    ('NUMERALS = ["I", "II", "III", "IV"]', "writes the numerals"),
    ('TO_TYPE = {"I": 1, "II": 2, "III": 3}', "writes the numerals"),
    ('LABEL = {1: "I", 2: "II", 3: "III", 4: "IV"}', "writes the numerals"),
    ('GROUPS = ("I-II", "III-IV", "V-VI")', "writes the group names"),
    ('def f():\n    return {"I-II": (1, 2), "V-VI": (5, 6)}', "writes the group names"),
    ("TYPES = (1, 2, 3, 4, 5, 6)", "writes the types 1..6"),
    ("labels = [1, 2, 3, 4, 5, 6]", "writes the types 1..6"),
    ('def plan(target="V-VI"):\n    pass', 'defaults to "V-VI"'),
    ('def plan(*, target: str = "V-VI"):\n    pass', 'defaults to "V-VI"'),
    ('TARGET = "V-VI"', 'defaults to "V-VI"'),
    ('t: str = typer.Option("V-VI", help="x")', 'defaults to "V-VI"'),
    ('x = field(default="V-VI")', 'defaults to "V-VI"'),
    ('target = next((c.group for c in criteria), "V-VI")', 'defaults to "V-VI"'),
    ('group = options.get("group", "V-VI")', 'defaults to "V-VI"'),
    ("ROMAN = dict(zip(KEYS, skintone.ROMAN))", "binds ROMAN"),
    ("for t in range(1, 7):\n    pass", "counts the types 1..6"),
    ("counts = {str(k): 0 for k in range(1, 7)}", "counts the types 1..6"),
    ("TYPES = np.arange(1, 7)", "counts the types 1..6"),
])
def test_the_vocabulary_guard_finds_each_kind_of_second_definition(source, what):
    assert what in [w for _, w in vocabulary_definitions(source)]


def test_the_vocabulary_guard_lets_uses_through():
    uses = ('from fairskin.skintone import ROMAN, GROUP_NAMES\nx = ROMAN[4]\nif g == "V-VI":\n    pass\n'
            'y = ("I", "II")\nmsg = f"type {ROMAN[0]}"\nfor t in FST_TYPES:\n    pass\n'
            'auroc = row.get("V-VI")\nfor k in range(1, 11):\n    pass\nfor i in range(7):\n    pass\n')
    assert vocabulary_definitions(uses) == []


def test_the_skin_type_vocabulary_is_defined_once():
    """Every second definition of the numerals, groups, types or default target in fairskin/ (only
    fairskin/skintone defines them; everything else imports them from there)."""
    found = [(str(f.relative_to(ROOT)), line, what) for f in sorted(PKG.rglob("*.py"))
             if f.relative_to(PKG).parts[0] != "skintone"
             for line, what in vocabulary_definitions(f.read_text(encoding="utf-8"))]
    new = [f"{path}:{line}: {what}" for path, line, what in found if f"{path}: {what}" not in PENDING]
    assert new == [], "import these from fairskin.skintone instead:\n" + "\n".join(new)
    gone = set(PENDING) - {f"{path}: {what}" for path, _, what in found}
    assert not gone, f"no longer found, drop from PENDING: {sorted(gone)}"


MAX_FUNCTION_LINES = 120
MAX_PARAMETERS = 15
#: the sentence openings a long / many-parameter function's docstring must contain to say why
LONG_WHY, MANY_WHY = "Long because", "Many parameters because"


def _parameter_count(args: ast.arguments) -> int:
    """All kinds of parameter, ``self``/``cls`` left out, ``*args`` and ``**kwargs`` one each."""
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    if names[:1] in (["self"], ["cls"]):
        names = names[1:]
    return len(names) + (args.vararg is not None) + (args.kwarg is not None)


def unexplained_big_functions(source: str) -> list[tuple[int, str, int, int, str]]:
    """(line, name, lines, parameters, missing sentence) for each function or method in ``source``
    (nested ones too) over ``MAX_FUNCTION_LINES`` lines (docstring included) whose docstring has no
    sentence starting "Long because", or over ``MAX_PARAMETERS`` parameters whose docstring has
    none starting "Many parameters because". A function both long and with many parameters needs
    both sentences: each says why for its own limit."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        lines, params = node.end_lineno - node.lineno + 1, _parameter_count(node.args)
        doc = " ".join((ast.get_docstring(node) or "").split())
        for over, why in ((lines > MAX_FUNCTION_LINES, LONG_WHY), (params > MAX_PARAMETERS, MANY_WHY)):
            if over and not re.search(rf"(^|[.!?:]\s+){why}\b", doc):
                found.append((node.lineno, node.name, lines, params, why))
    return found


@pytest.mark.parametrize("source, expected", [
    ("def f():\n" + "    x = 1\n" * 120, [(1, "f", 121, 0, LONG_WHY)]),
    ("def f():\n" + "    x = 1\n" * 119, []),
    ('def f():\n    """Does f. Long because it is one table."""\n' + "    x = 1\n" * 120, []),
    ('def f():\n    """Does f; long because lower case is not a sentence."""\n' + "    x = 1\n" * 120,
     [(1, "f", 122, 0, LONG_WHY)]),
    ("def f(" + ", ".join(f"a{i}" for i in range(15)) + ", *args, **kw):\n    pass", [(1, "f", 2, 17, MANY_WHY)]),
    ("class C:\n    def m(self, " + ", ".join(f"a{i}" for i in range(15)) + "):\n        pass", []),
    ('def f(*, ' + ", ".join(f"a{i}" for i in range(16)) + '):\n    """Many parameters because each is a setting."""',
     []),
    ('def f(*, ' + ", ".join(f"a{i}" for i in range(16)) + '):\n    """Long because it is long."""',
     [(1, "f", 2, 16, MANY_WHY)]),
    ("def outer():\n    def inner():\n" + "        x = 1\n" * 120 + "    return inner",
     [(1, "outer", 123, 0, LONG_WHY), (2, "inner", 121, 0, LONG_WHY)]),
])
def test_the_big_function_guard_counts_lines_and_parameters(source, expected):
    assert sorted(unexplained_big_functions(source)) == sorted(expected)


def test_no_big_function_outside_the_cli_goes_unexplained():
    """Every function or method under fairskin/ except fairskin/cli/ (whose commands mirror their
    options) with over 120 lines says in its docstring why, in a sentence starting "Long because";
    one with over 15 parameters (self/cls not counted, ``*args``/``**kwargs`` one each) in one
    starting "Many parameters because". Otherwise it should be split into named steps."""
    found = [(f"{f.relative_to(ROOT)}:{line} {name}", lines, params, why) for f in sorted(PKG.rglob("*.py"))
             if f.relative_to(PKG).parts[0] != "cli"
             for line, name, lines, params, why in unexplained_big_functions(f.read_text(encoding="utf-8"))]
    report = "\n".join(f"{where}: {lines} lines, {params} parameters; no sentence '{why} ...'"
                       for where, lines, params, why in sorted(found, key=lambda r: -r[1]))
    print(report)
    assert found == [], "split these into named steps or say why in the docstring:\n" + report
