"""The two ways to install the course list the same packages, and CI runs the README's command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch-cpu": "torch"}
NOT_PACKAGES = {"python", "pip"}


def split(requirement: str) -> tuple[str, str]:
    """'ipywidgets>=8' → ('ipywidgets', '>=8'); conda's single '=' becomes '=='."""
    name, spec = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", requirement.strip()).groups()
    if re.match(r"^=[^=]", spec):
        spec = "=" + spec
    return CONDA_TO_PIP.get(name.lower(), name.lower()), spec.replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["test"]
    return dict(split(r) for r in requirements)


def environment_requirements() -> dict[str, str]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert environment["channels"] == ["conda-forge"], "Binder must use conda-forge only"
    found = {}
    for entry in environment["dependencies"]:
        entries = entry["pip"] if isinstance(entry, dict) else [entry]
        for requirement in entries:
            if requirement.startswith("-"):
                continue
            name, spec = split(requirement)
            if name not in NOT_PACKAGES:
                found[name] = spec
    return found


def test_environment_yml_matches_pyproject():
    assert environment_requirements() == pyproject_requirements()


def test_environment_uses_cpu_pytorch():
    text = (ROOT / "environment.yml").read_text()
    assert "pytorch-cpu" in text and "\n  - pytorch\n" not in text


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make course" in readme
    assert re.search(r"^make test$", ci, re.MULTILINE)
