"""environment.yml (conda-forge) and pyproject.toml must list the same packages and bounds.

conda cannot run on our machines, so this test is what keeps the two files honest: every PyPI
requirement (runtime and every extra) must appear in environment.yml under its conda name with
the same version specifiers, and every conda package must appear in pyproject.toml.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (pyproject.toml's test extra)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]

# conda-forge name -> PyPI name, where they differ.
CONDA_TO_PYPI = {
    "matplotlib-base": "matplotlib",
    "playwright-python": "playwright",
}
# conda packages that are tooling, not project dependencies.
CONDA_ONLY = {"pip"}

_CONDA_SPEC = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*?)\s*$")


def pyproject_requirements(pyproject: dict) -> dict[str, SpecifierSet]:
    """PyPI name -> specifiers, over dependencies, every extra and requires-python."""
    project = pyproject["project"]
    lines = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        lines.extend(extra)
    out: dict[str, SpecifierSet] = {}
    for line in lines:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        if name == canonicalize_name(project["name"]):
            continue  # an extra that pulls in another extra, e.g. "convlab[test]"
        if name in out and out[name] != req.specifier:
            raise ValueError(f"pyproject.toml lists {name!r} twice with different bounds: "
                             f"{out[name]} and {req.specifier}")
        out[name] = req.specifier
    out["python"] = SpecifierSet(project.get("requires-python", ""))
    return out


def conda_requirements(env: dict) -> dict[str, SpecifierSet]:
    """PyPI name -> specifiers for the conda dependencies of an environment.yml."""
    out: dict[str, SpecifierSet] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):  # the "pip:" block
            continue
        m = _CONDA_SPEC.match(str(dep))
        if m is None:
            raise ValueError(f"environment.yml dependency {dep!r} is not 'name' or 'name<spec>'")
        conda_name, spec = m.group(1).lower(), m.group(2).replace(" ", "")
        if conda_name in CONDA_ONLY:
            continue
        name = canonicalize_name(CONDA_TO_PYPI.get(conda_name, conda_name))
        try:
            out[name] = SpecifierSet(spec)
        except InvalidSpecifier as exc:  # conda-only syntax such as "=1.2" or "1.2.*"
            raise ValueError(f"environment.yml dependency {dep!r}: write the version bound "
                             f"the PEP 440 way (e.g. 'numpy>=1.26'), got {spec!r}") from exc
    return out


def compare(pypi: dict[str, SpecifierSet], conda: dict[str, SpecifierSet]) -> list[str]:
    """Every difference between the two requirement maps, as readable lines (empty if none)."""
    problems = []
    for name in sorted(set(pypi) - set(conda)):
        problems.append(f"{name}{pypi[name]} is in pyproject.toml but not in environment.yml")
    for name in sorted(set(conda) - set(pypi)):
        problems.append(f"{name}{conda[name]} is in environment.yml but not in pyproject.toml")
    for name in sorted(set(pypi) & set(conda)):
        if pypi[name] != conda[name]:
            problems.append(f"{name}: pyproject.toml says {str(pypi[name]) or '(any)'}, "
                            f"environment.yml says {str(conda[name]) or '(any)'}")
    return problems


def _load():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    return pyproject, env


def test_environment_yml_matches_pyproject():
    pyproject, env = _load()
    problems = compare(pyproject_requirements(pyproject), conda_requirements(env))
    assert not problems, "environment.yml and pyproject.toml disagree:\n" + "\n".join(problems)


def test_environment_yml_uses_conda_forge_and_installs_the_package():
    _, env = _load()
    assert env["channels"] == ["conda-forge"]
    pip_blocks = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert pip_blocks == [["-e ."]], f"expected a single 'pip: [-e .]' block, got {pip_blocks}"


# ---- the comparison itself must be able to fail ----

PYPROJECT = {"project": {"name": "demo", "requires-python": ">=3.10",
                         "dependencies": ["numpy>=1.26", "matplotlib>=3.8"],
                         "optional-dependencies": {"test": ["pytest>=8.0", "demo[lab]"]}}}


def _env(*deps):
    return {"channels": ["conda-forge"], "dependencies": list(deps) + ["pip", {"pip": ["-e ."]}]}


def test_compare_accepts_a_matching_pair_with_conda_names():
    env = _env("python>=3.10", "numpy >=1.26", "matplotlib-base>=3.8", "pytest>=8.0")
    assert compare(pyproject_requirements(PYPROJECT), conda_requirements(env)) == []


@pytest.mark.parametrize("deps, expected", [
    # a package missing from environment.yml
    (("python>=3.10", "numpy>=1.26", "matplotlib-base>=3.8"),
     "pytest>=8.0 is in pyproject.toml but not in environment.yml"),
    # an extra package in environment.yml
    (("python>=3.10", "numpy>=1.26", "matplotlib-base>=3.8", "pytest>=8.0", "scipy>=1.11"),
     "scipy>=1.11 is in environment.yml but not in pyproject.toml"),
    # a different lower bound
    (("python>=3.10", "numpy>=1.25", "matplotlib-base>=3.8", "pytest>=8.0"),
     "numpy: pyproject.toml says >=1.26, environment.yml says >=1.25"),
    # a bound on one side only
    (("python>=3.10", "numpy>=1.26", "matplotlib-base", "pytest>=8.0"),
     "matplotlib: pyproject.toml says >=3.8, environment.yml says (any)"),
    # the Python version
    (("python>=3.11", "numpy>=1.26", "matplotlib-base>=3.8", "pytest>=8.0"),
     "python: pyproject.toml says >=3.10, environment.yml says >=3.11"),
])
def test_compare_reports_each_kind_of_mismatch(deps, expected):
    assert compare(pyproject_requirements(PYPROJECT), conda_requirements(_env(*deps))) == [expected]


def test_conda_only_version_syntax_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="PEP 440"):
        conda_requirements(_env("numpy=1.26"))
