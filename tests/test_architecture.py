"""The house's arrows point one way: lessons use the core, never the reverse.

- no module outside ``convlab/lessons/`` imports lesson code (the public face ``convlab.exercises``
  aside), by an import statement or by a module name handed to ``importlib``;
- no module outside the lessons imports matplotlib, ipywidgets or IPython when it is imported
  (checked in a fresh interpreter, module by module; ``convlab.plot`` draws, but imports
  matplotlib only inside the function that makes a figure);
- ``convlab/__init__.py`` names only modules that exist.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "convlab"
#: Modules outside the lessons that may import lesson code: the exercises' public face.
LESSON_IMPORTERS = {"convlab.exercises"}
#: The lesson layer's own libraries, never imported by the core.
UI_LIBRARIES = ("matplotlib", "ipywidgets", "IPython")
#: The modules the project brief names as the core; each must exist and stay free of them.
CORE = ("arith", "im2col", "layers", "nets", "optim", "train", "data", "plot")
LESSON_NAME = re.compile(r"^(\.|convlab\.)?lessons(\.\w+)*$|^convlab\.lessons$")


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def outside_lessons() -> list[pathlib.Path]:
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if "lessons" not in p.relative_to(PACKAGE).parts[:1])


def lesson_imports(path: pathlib.Path, name: str) -> list[str]:
    """Every way ``path`` (module ``name``) reaches lesson code: ``import convlab.lessons...``,
    ``from .lessons import ...``, ``from . import lessons``, or a string naming a lesson module
    (what ``importlib.import_module`` would be given); docstrings aside."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names
                      if a.name == "convlab.lessons" or a.name.startswith("convlab.lessons.")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = importlib.util.resolve_name("." * node.level + base, package)
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
            if any(t == "convlab.lessons" or t.startswith("convlab.lessons.") for t in targets):
                found.append(f"line {node.lineno}: from {'.' * node.level}{node.module or ''} import "
                             + ", ".join(a.name for a in node.names))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in docstrings and LESSON_NAME.match(node.value)):
            found.append(f"line {node.lineno}: the string {node.value!r}")
    return found


def test_no_module_outside_the_lessons_imports_lesson_code():
    bad = {}
    for path in outside_lessons():
        name = module_name(path)
        if name not in LESSON_IMPORTERS:
            found = lesson_imports(path, name)
            if found:
                bad[name] = found
    assert not bad, f"lesson code imported from outside convlab/lessons/: {bad}"
    assert lesson_imports(PACKAGE / "exercises.py", "convlab.exercises")   # the one that may


@pytest.mark.parametrize("source, caught", [
    ("from .lessons.draw import plot_history\n", True),
    ("from .lessons import draw\n", True),
    ("from . import lessons\n", True),
    ("import convlab.lessons.lesson06 as l6\n", True),
    ("from convlab.lessons import check\n", True),
    ("for m in ('train', 'lessons.draw'):\n    importlib.import_module(f'.{m}', __package__)\n", True),
    ('"""Drawn by ``convlab.lessons``."""\nfrom .plot import accuracy_curves\n', False),
    ("from .layers import Relu\nimport matplotlib\n", False),
])
def test_the_import_scan_can_fail(tmp_path, source, caught):
    path = tmp_path / "planted.py"
    path.write_text(source)
    assert bool(lesson_imports(path, "convlab.planted")) is caught


PROBE = """
import importlib, json, pathlib, sys, traceback
UI, found = {ui!r}, {{}}

def where():                    # the innermost convlab file on the stack, as lessons/draw.py:9
    for f in reversed(traceback.extract_stack()):
        parts = pathlib.Path(f.filename).parts
        if "convlab" in parts:
            return "/".join(parts[len(parts) - parts[::-1].index("convlab"):]) + f":{{f.lineno}}"
    return "?"

class Spy:                      # notes where each UI library is first imported from; finds nothing
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in UI:
            found.setdefault(name.split(".")[0], where())
        return None

sys.meta_path.insert(0, Spy())
for name in {names!r}:
    importlib.import_module(name)
print(json.dumps(found))
"""


def ui_imports(names) -> dict:
    """{UI library: "file:line" of the convlab module that first imported it} when ``names`` are
    imported in order in a fresh interpreter; {} when none is."""
    out = subprocess.run([sys.executable, "-c", PROBE.format(ui=UI_LIBRARIES, names=list(names))],
                         capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_core_modules_exist():
    missing = [m for m in CORE if not (PACKAGE / f"{m}.py").exists() and not (PACKAGE / m).is_dir()]
    assert not missing


def test_no_module_outside_the_lessons_imports_matplotlib_or_widgets():
    names = [module_name(p) for p in outside_lessons()]
    names = [n for n in names if n not in LESSON_IMPORTERS and n != "convlab.__main__"]
    assert {f"convlab.{m}" for m in CORE} <= set(names)
    assert ui_imports(names) == {}


@pytest.mark.slow                                 # a fresh interpreter loading matplotlib: ~1 s
def test_the_import_probe_can_fail():
    found = ui_imports(["convlab.arith", "convlab.lessons.draw"])
    assert list(found) == ["matplotlib"] and found["matplotlib"].startswith("lessons/draw.py:")


def test_package_docstring_names_only_modules_that_exist():
    import convlab
    named = set(re.findall(r"``(\w+)``", convlab.__doc__))
    assert named, "the package docstring names its modules in ``double backticks``"
    missing = sorted(n for n in named if importlib.util.find_spec(f"convlab.{n}") is None)
    assert not missing, f"convlab/__init__.py names modules that do not exist: {missing}"
    assert set(CORE) <= named
