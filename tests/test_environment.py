"""The two ways to install the course list the same packages, and CI runs the README's command."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
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


# The tests read these libraries' internals (pyproject.toml says which and how to bump them).
PINNED_REFERENCES = ("captum", "grad-cam")


def test_reference_libraries_are_pinned_and_installed_at_the_pin():
    requirements = pyproject_requirements()
    for name in PINNED_REFERENCES:
        spec = requirements[name]
        assert re.fullmatch(r"==\d+(\.\d+)+", spec), f"{name} must be pinned exactly, got {spec!r}"
        assert version(name) == spec[2:], (
            f"{name} {version(name)} is installed but the tests are pinned to {spec[2:]}")


def test_environment_uses_cpu_pytorch():
    text = (ROOT / "environment.yml").read_text()
    assert "pytorch-cpu" in text and "\n  - pytorch\n" not in text


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make course" in readme
    assert re.search(r"^unshare --net bash -c 'ip link set lo up && [^']*\bmake test'$", ci,
                     re.MULTILINE), "CI must run `make test` offline (loopback only)"
    assert re.search(r"^make setup\b", ci, re.MULTILINE)


def test_readme_binder_link_opens_the_first_notebook_of_this_repository():
    readme = (ROOT / "README.md").read_text()
    repository = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"][
        "Repository"]
    owner_repo = re.match(r"https://github\.com/([^/]+/[^/]+)$", repository).group(1)
    link = re.search(r"\(https://mybinder\.org/v2/gh/([^/]+/[^/]+)/([^?)]+)\?urlpath=([^)]+)\)",
                     readme)
    assert link, "the README needs a Binder launch link"
    assert link.group(1) == owner_repo, "the Binder link must point at this repository"
    assert link.group(3) == "lab/tree/notebooks/00_introduction.ipynb"
    assert (ROOT / "notebooks" / "00_introduction.ipynb").exists()


def test_binder_needs_no_download_at_start():
    """postBuild only installs the local package, without dependencies or network."""
    post_build = (ROOT / "postBuild").read_text()
    commands = [line for line in post_build.splitlines() if line and not line.startswith("#")]
    assert commands == ["set -euo pipefail", "python -m pip install --no-deps -e ."], commands
