"""Every local link and image in the course resolves, and every notebook has its navigation.

Data-driven over what is present: the course notebooks (notebooks/NN_*.ipynb), the student
edition (notebooks/student/), the workshop guide and README.md. A link to a notebook that is
not in the repository yet fails, on purpose. Anchors (``file#anchor``) must exist in the
target: as an HTML ``id``/``name``, or as the anchor of a Markdown heading (Jupyter's
"Heading-text" or GitHub's "heading-text"). The order of the course is the table in the course
map of notebook 00; each notebook starts and ends with the same navigation line
``[← previous](…) | [Course map](…#course-map) | [next →](…)``, without "previous" for the
first notebook of the map and without "next" for the last.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
COURSE = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
STUDENT = sorted((NOTEBOOKS / "student").glob("[0-9][0-9]_*.ipynb"))
MARKDOWN_FILES = [ROOT / "README.md", *sorted(NOTEBOOKS.glob("*.md"))]
LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\((?P<md>[^)\s]+)(?:\s+\"[^\"]*\")?\)"
                  r"|(?:href|src)=\"(?P<html>[^\"]+)\"")
CODE = re.compile(r"```.*?```|`[^`\n]*`", flags=re.DOTALL)
ANCHOR = re.compile(r"""(?:id|name)=["']([^"']+)["']""")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", flags=re.MULTILINE)
COURSE_MAP = "00_introduction.ipynb#course-map"


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def markdown_texts(path: Path) -> list[str]:
    if path.suffix == ".ipynb":
        notebook = nbformat.read(path, as_version=4)
        return [cell.source for cell in notebook.cells if cell.cell_type == "markdown"]
    return [path.read_text(encoding="utf-8")]


def links(text: str) -> list[str]:
    text = CODE.sub("", text)  # links shown as code are examples, not links
    return [m.group("md") or m.group("html") for m in LINK.finditer(text)]


def anchors(path: Path) -> set[str]:
    found = set()
    for text in markdown_texts(path):
        found |= set(ANCHOR.findall(text))
        for heading in HEADING.findall(CODE.sub("", text)):
            plain = re.sub(r"[*_`]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip()
            found.add(plain.replace(" ", "-"))  # Jupyter
            found.add(re.sub(r"[^\w\- ]", "", plain.lower()).replace(" ", "-"))  # GitHub
    return found


def is_local(target: str) -> bool:
    return not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target)


ALL_FILES = COURSE + STUDENT + MARKDOWN_FILES


@pytest.mark.parametrize("path", ALL_FILES, ids=rel)
def test_local_links_resolve(path):
    broken = []
    for text in markdown_texts(path):
        for target in links(text):
            if not is_local(target):
                continue
            file_part, _, anchor = target.partition("#")
            destination = (path.parent / file_part).resolve() if file_part else path
            if not destination.exists():
                broken.append(f"{target} (no such file)")
            elif anchor and destination.suffix in (".ipynb", ".md") \
                    and anchor not in anchors(destination):
                broken.append(f"{target} (no anchor {anchor!r} in {destination.name})")
    assert not broken, f"{rel(path)}: broken links: " + "; ".join(broken)


def course_order() -> list[str]:
    """The notebook file names in the order of the course map of notebook 00."""
    introduction = nbformat.read(NOTEBOOKS / "00_introduction.ipynb", as_version=4)
    table = next(cell.source for cell in introduction.cells
                 if 'id="course-map"' in cell.source)
    order = []
    for line in table.splitlines():
        for target in links(line):
            if re.match(r"^[0-9][0-9]_.*\.ipynb$", target) and target not in order:
                order.append(target)
    return order


def navigation(line: str) -> dict[str, str] | None:
    """{'previous': …, 'map': …, 'next': …} for a navigation line, None for any other line."""
    parts = {}
    for match in LINK.finditer(line):
        text, target = match.group("text"), match.group("md")
        if text.strip() == "Course map":
            parts["map"] = target
        elif text.startswith("←"):
            parts["previous"] = target
        elif text.rstrip().endswith("→"):
            parts["next"] = target
    return parts if "map" in parts else None


def test_course_map_lists_every_notebook():
    order = course_order()
    assert order[0] == "00_introduction.ipynb"
    missing = [p.name for p in COURSE if p.name not in order]
    assert not missing, f"not in the course map of notebook 00: {missing}"


@pytest.mark.parametrize("path", COURSE + STUDENT, ids=rel)
def test_notebook_starts_and_ends_with_navigation(path):
    order = course_order()
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].cell_type == "markdown" and cells[-1].cell_type == "markdown"
    top = [(line, nav) for line in cells[0].source.splitlines() if (nav := navigation(line))]
    assert top, f"{rel(path)}: no navigation line in the first cell"
    last_line = cells[-1].source.strip().splitlines()[-1]
    bottom = navigation(last_line)
    assert bottom, f"{rel(path)}: the last cell does not end with the navigation line"
    assert top[0][0].strip() == last_line.strip(), "top and bottom navigation lines differ"

    k = order.index(path.name)
    expected = {"map": "#course-map" if path.name == "00_introduction.ipynb" else COURSE_MAP}
    if k > 0:
        expected["previous"] = order[k - 1]
    if k < len(order) - 1:
        expected["next"] = order[k + 1]
    assert bottom == expected, f"{rel(path)}: navigation {bottom}, expected {expected}"
