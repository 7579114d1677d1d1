"""Mutation testing: plant each catalogued "wrong map" bug and check that a unit test fails.

    python tests/mutate.py                      # every mutant of tests/mutants/*.py
    python tests/mutate.py --topic cam occlusion
    python tests/mutate.py -k fill -k ReLU      # mutants whose name or description matches
    python tests/mutate.py --list               # show the catalogue, run nothing
    python tests/mutate.py --all-tests          # every unit test per mutant, not the named ones
    python tests/mutate.py -k "without its ReLU" --tests tests/test_cam.py  # another test?

The catalogue is every ``MUTANTS`` list in ``tests/mutants/<topic>.py`` (format:
``tests/mutants/__init__.py``). Mutant ``cam-2`` is the second entry of ``cam.py``. Each
mutant is applied to a *temporary copy* of ``course_lib`` — the working tree is never
touched — and the copy is put first on ``PYTHONPATH`` for a ``pytest -x -q`` subprocess
that runs the mutant's named tests (notebooks off). A mutant is

* **killed** when a test fails (pytest exit status 1; the first failing test is reported),
* **survived** when every test passes (exit status 0): a bug the tests cannot see,
* **error** when pytest could not run the tests (collection error, no test selected, timeout).

Before the mutants, the same tests run once on the unmutated copy: a test that already
fails would "kill" every mutant and prove nothing. The exit status is 0 only when every
selected mutant is killed. The table at the end is Markdown, ready for the README.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "tests" / "mutants"
PACKAGE = "course_lib"
# Unit tests only: these start kernels, browsers or whole notebooks (minutes each).
SYSTEM_TESTS = ("tests/test_browser.py", "tests/test_student_edition.py",
                "tests/test_own_image_kernel.py", "tests/test_site.py")

# Catalogue files import "from mutants import Mutant" (or "from tests.mutants …": the root
# goes last on the path, so it never shadows the course_lib under test).
sys.path.insert(0, str(ROOT / "tests"))
sys.path.append(str(ROOT))
from mutants import Mutant  # noqa: E402


@dataclass
class Entry:
    name: str        # "<topic>-<k>", k counted from 1 within the topic's file
    topic: str
    mutant: Mutant


@dataclass
class Outcome:
    entry: Entry
    status: str      # "killed", "survived" or "error"
    detail: str      # the failing test, or why it is an error
    seconds: float


def load_catalogue() -> list[Entry]:
    """Every mutant of every ``tests/mutants/*.py`` file (the package's own __init__ aside)."""
    entries = []
    for path in sorted(CATALOGUE.glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"mutants.{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        mutants = getattr(module, "MUTANTS", None)
        # Compare by shape, not class: a file may import Mutant as tests.mutants.Mutant.
        if not isinstance(mutants, list) or not all(
                isinstance(m, tuple) and getattr(m, "_fields", None) == Mutant._fields
                for m in mutants):
            raise SystemExit(f"{path.relative_to(ROOT)}: MUTANTS must be a list of Mutant")
        mutants = [Mutant(*m) for m in mutants]
        entries += [Entry(f"{path.stem}-{k}", path.stem, m) for k, m in enumerate(mutants, 1)]
    return entries


def problems(entry: Entry) -> list[str]:
    """What makes a mutant unusable: a path outside course_lib, a stale or ambiguous snippet."""
    m, found = entry.mutant, []
    if not m.path.startswith(f"{PACKAGE}/") or not (ROOT / m.path).is_file():
        return [f"{m.path} is not a file of {PACKAGE}/"]
    if not m.tests or isinstance(m.tests, str):
        found.append("tests must be a non-empty tuple of pytest arguments")
    source = (ROOT / m.path).read_text()
    count = source.count(m.old)
    if count != 1:
        found.append(f"the snippet occurs {count} times in {m.path} (must be exactly once): "
                     f"{m.old!r}")
    elif m.old == m.new:
        found.append("old and new are the same")
    else:
        try:
            compile(source.replace(m.old, m.new), m.path, "exec")
        except SyntaxError as err:
            found.append(f"the mutated file does not compile: {err}")
    return found


def select(entries: list[Entry], topics: list[str] | None, patterns: list[str] | None
           ) -> list[Entry]:
    if topics:
        unknown = set(topics) - {e.topic for e in entries}
        if unknown:
            raise SystemExit(f"no catalogue file for topic(s) {sorted(unknown)}; known: "
                             f"{sorted({e.topic for e in entries})}")
        entries = [e for e in entries if e.topic in topics]
    if patterns:
        entries = [e for e in entries
                   if any(p.lower() in f"{e.name} {e.mutant.why}".lower() for p in patterns)]
    return entries


def pytest_command(tests: tuple[str, ...]) -> list[str]:
    # -P: do not put the current directory first on sys.path, or the working tree's
    # course_lib would shadow the mutated copy on PYTHONPATH.
    return [sys.executable, "-P", "-m", "pytest", "-x", "-q", "-rf", "--no-header",
            "-p", "no:cacheprovider", "-p", "no:nbval", *tests]


def all_unit_tests() -> tuple[str, ...]:
    return ("tests", *(f"--ignore={path}" for path in SYSTEM_TESTS))


def environment(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a stale .pyc of the same size could hide a mutant
    env["TQDM_DISABLE"] = "1"
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def first_failure(output: str) -> str:
    match = re.search(r"^(?:FAILED|ERROR) (\S+)", output, re.MULTILINE)
    return match.group(1) if match else "(see pytest output)"


def run_pytest(tests: tuple[str, ...], env: dict[str, str], timeout: float
               ) -> tuple[int | None, str, float]:
    start = time.monotonic()
    try:
        done = subprocess.run(pytest_command(tests), cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        output = (err.stdout or b"").decode() if isinstance(err.stdout, bytes) else err.stdout
        return None, output or "", time.monotonic() - start
    return done.returncode, done.stdout + done.stderr, time.monotonic() - start


def check_copy_is_imported(env: dict[str, str], copy: Path) -> None:
    code = f"import {PACKAGE}, sys; print({PACKAGE}.__file__)"
    found = subprocess.run([sys.executable, "-P", "-c", code], cwd=ROOT, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    if not Path(found).resolve().is_relative_to(copy.resolve()):
        raise SystemExit(f"the test subprocess imports {found}, not the temporary copy in {copy}")


def baseline(entries: list[Entry], test_args, env: dict[str, str], timeout: float) -> None:
    """The named tests must pass on the unmutated code, or a 'kill' proves nothing."""
    groups = {test_args(e) for e in entries}
    if all(not arg.startswith("-") for group in groups for arg in group):
        groups = {tuple(dict.fromkeys(arg for group in groups for arg in group))}  # one run
    for group in sorted(groups):
        print(f"baseline: pytest {' '.join(group)}", flush=True)
        code, output, seconds = run_pytest(group, env, timeout)
        if code != 0:
            print(output[-4000:])
            raise SystemExit(f"the tests fail without any mutant (exit {code}, "
                             f"{first_failure(output)}); fix them before mutating")
        print(f"  passed ({seconds:.0f} s)", flush=True)


def apply(copy: Path, mutant: Mutant) -> str:
    """Write the mutated file into the copy; return the original text to restore."""
    target = copy / mutant.path
    original = target.read_text()
    target.write_text(original.replace(mutant.old, mutant.new, 1))
    return original


def run_mutant(entry: Entry, copy: Path, test_args, env: dict[str, str], timeout: float
               ) -> Outcome:
    original = apply(copy, entry.mutant)
    try:
        code, output, seconds = run_pytest(test_args(entry), env, timeout)
    finally:
        (copy / entry.mutant.path).write_text(original)
    if code == 1:
        return Outcome(entry, "killed", first_failure(output), seconds)
    if code == 0:
        return Outcome(entry, "survived", "", seconds)
    if code is None:
        return Outcome(entry, "error", f"timed out after {timeout:.0f} s", seconds)
    last = output.strip().splitlines()[-1] if output.strip() else ""
    return Outcome(entry, "error", f"pytest exit {code}: {last}", seconds)


def table(outcomes: list[Outcome]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = ["| mutant | the planted bug | result | killed by | s |", "|---|---|---|---|---:|"]
    for o in outcomes:
        rows.append(f"| {o.entry.name} | {cell(o.entry.mutant.why)} | {o.status} | "
                    f"{cell(o.detail) if o.detail else '—'} | {o.seconds:.0f} |")
    killed = sum(o.status == "killed" for o in outcomes)
    rows.append(f"\n{killed} of {len(outcomes)} mutants killed, "
                f"{sum(o.status == 'survived' for o in outcomes)} survived, "
                f"{sum(o.status == 'error' for o in outcomes)} errors.")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topic", nargs="+", help="only the mutants of these catalogue files")
    parser.add_argument("-k", dest="patterns", action="append",
                        help="only mutants whose name or description contains this text "
                             "(case-insensitive; repeat for several)")
    parser.add_argument("--all-tests", action="store_true",
                        help="run every unit test for each mutant instead of its named tests")
    parser.add_argument("--tests", nargs="+", metavar="ARG",
                        help="run these pytest arguments for each mutant instead of its named "
                             "tests (to check that another test also catches it)")
    parser.add_argument("--list", action="store_true", help="list the selected mutants and stop")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the run of the named tests on the unmutated code")
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds one pytest run may take (default 1800)")
    args = parser.parse_args(argv)

    entries = select(load_catalogue(), args.topic, args.patterns)
    broken = {e.name: problems(e) for e in entries}
    broken = {name: found for name, found in broken.items() if found}
    for name, found in broken.items():
        for problem in found:
            print(f"{name}: {problem}", file=sys.stderr)
    if broken:
        return 2
    if args.list:
        for e in entries:
            print(f"{e.name:24} {e.mutant.path}: {e.mutant.why}\n{'':24} tests: "
                  f"{' '.join(e.mutant.tests)}")
        return 0
    if not entries:
        print("no mutant selected", file=sys.stderr)
        return 2

    def test_args(entry: Entry) -> tuple[str, ...]:
        if args.tests:
            return tuple(args.tests)
        return all_unit_tests() if args.all_tests else tuple(entry.mutant.tests)

    outcomes = []
    with tempfile.TemporaryDirectory(prefix="mutants-") as folder:
        copy = Path(folder)
        shutil.copytree(ROOT / PACKAGE, copy / PACKAGE,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        # the shipped results that course_lib finds next to itself (benchmark, precomputed games)
        (copy / "notebooks").mkdir()
        (copy / "notebooks" / "results").symlink_to(ROOT / "notebooks" / "results")
        env = environment(copy)
        check_copy_is_imported(env, copy)
        if not args.no_baseline:
            baseline(entries, test_args, env, args.timeout)
        for number, entry in enumerate(entries, 1):
            print(f"[{number}/{len(entries)}] {entry.name}: {entry.mutant.why} ...", end=" ",
                  flush=True)
            outcome = run_mutant(entry, copy, test_args, env, args.timeout)
            outcomes.append(outcome)
            print(f"{outcome.status.upper()} {outcome.detail} ({outcome.seconds:.0f} s)",
                  flush=True)
    print()
    print(table(outcomes))
    return 0 if all(o.status == "killed" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
