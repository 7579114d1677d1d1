"""`make site`: the rendered course (tests/build_site.py) is complete and its links work.

Built once into a temporary folder from the stored outputs (nothing is executed). Links to a
notebook that is not in the repository yet (09, 11) fail here too, on purpose.
"""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import build_site  # noqa: E402

NOTEBOOKS = sorted(build_site.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


class Page(HTMLParser):
    """The links, element ids and embedded PNG images of one HTML page."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.png_images = 0
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag == "img" and (attrs.get("src") or "").startswith("data:image/png"):
            self.png_images += 1


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build_site.build(out)
    return out


def test_every_notebook_has_a_page_listed_in_the_index(site):
    index = Page(site / "index.html")
    for path in NOTEBOOKS:
        page = site / (path.stem + ".html")
        assert page.is_file(), f"no page for {path.name}"
        assert page.name in index.links, f"index.html does not link to {page.name}"


def _has_anchor(ids: set[str], fragment: str) -> bool:
    """A browser tries the fragment as written, then percent-decoded (HTML spec)."""
    return fragment in ids or unquote(fragment) in ids


def _local(href: str) -> bool:
    return not (":" in href.split("/")[0] or href.startswith(("/", "#")))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_links_between_pages_resolve(site, path):
    page = Page(site / (path.stem + ".html"))
    broken = []
    for href in page.links:
        if href.startswith("#"):
            if not _has_anchor(page.ids, href[1:]):
                broken.append(f"{href} (no such anchor on this page)")
            continue
        if not _local(href):
            continue
        file_part, _, anchor = href.partition("#")
        target = site / unquote(file_part)
        if not target.is_file():
            broken.append(f"{href} (no such file in the site)")
        elif file_part.endswith(".ipynb") and not file_part.startswith("student/"):
            broken.append(f"{href} (a course notebook link that was not rewritten to .html)")
        elif anchor and target.suffix == ".html" and not _has_anchor(Page(target).ids, anchor):
            broken.append(f"{href} (no anchor {anchor!r} in {target.name})")
    assert not broken, f"{path.stem}.html: " + "; ".join(broken)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_page_has_its_figures(site, path):
    notebook = nbformat.read(path, as_version=4)
    figures = sum("image/png" in output.get("data", {})
                  for cell in notebook.cells if cell.cell_type == "code"
                  for output in cell.outputs)
    assert Page(site / (path.stem + ".html")).png_images == figures
