"""Build the rendered course: static HTML pages of the notebooks, as stored, in one folder.

    python tests/build_site.py _site        # make site

Nothing is executed: nbconvert's ``HTMLExporter`` renders the stored outputs (figures are
embedded as PNG data URIs, so every page is self-contained). Links are rewritten for the web:
a link to a course notebook ``NN_name.ipynb#anchor`` becomes ``NN_name.html#anchor``, a link
to a Markdown file in ``notebooks/`` (the workshop guide) points to its rendered ``.html``,
and any other local file a notebook links to (the student edition's ``.ipynb`` files) is
copied into the site, so the links keep working there. ``index.html`` lists the course.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
COURSE_NOTEBOOK = re.compile(r"^[0-9][0-9]_[^/]*\.ipynb$")
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))|((?:href|src)=\")([^\"]+)(\")")
PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 56rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 0.3rem 0.8rem; border-bottom: 1px solid #ddd;
       text-align: left; }}
code {{ background: #f4f4f4; padding: 0 0.2rem; }}
</style></head>
<body>
{body}
</body></html>
"""


def is_local(target: str) -> bool:
    return not (re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith(("#", "/")))


def web_target(target: str, assets: set[Path]) -> str:
    """The link as it must read in the site; local files to copy are added to ``assets``."""
    if not is_local(target):
        return target
    path, _, anchor = target.partition("#")
    suffix = f"#{anchor}" if anchor else ""
    if COURSE_NOTEBOOK.match(path):
        return path[:-len(".ipynb")] + ".html" + suffix
    source = (NOTEBOOKS / path).resolve()
    if source.is_file() and source.is_relative_to(NOTEBOOKS):
        if source.suffix == ".md":
            assets.add(source)
            return path[:-len(".md")] + ".html" + suffix
        assets.add(source)
    return target


def rewrite_links(source: str, assets: set[Path]) -> str:
    def replace(match: re.Match) -> str:
        if match.group(1) is not None:
            return match.group(1) + web_target(match.group(2), assets) + match.group(3)
        return match.group(4) + web_target(match.group(5), assets) + match.group(6)
    return LINK.sub(replace, source)


def notebook_title(notebook: nbformat.NotebookNode, fallback: str) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, flags=re.MULTILINE)
            if match:
                return match.group(1).strip()
    return fallback


def render_markdown(path: Path, out: Path, assets: set[Path]) -> None:
    from nbconvert.filters.markdown import markdown2html

    text = rewrite_links(path.read_text(encoding="utf-8"), assets)
    title = next((line.lstrip("# ").strip() for line in text.splitlines()
                  if line.startswith("#")), path.stem)
    target = out / path.relative_to(NOTEBOOKS).with_suffix(".html")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(PAGE.format(title=html.escape(title), body=markdown2html(text)),
                      encoding="utf-8")


def build(out: Path, sources: list[Path] | None = None) -> list[Path]:
    """Render every course notebook (and what they link to) into ``out``; return the pages."""
    from nbconvert import HTMLExporter

    sources = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) if sources is None else sources
    out.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    assets: set[Path] = set()
    rows, pages = [], []
    for path in sources:
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                cell.source = rewrite_links(cell.source, assets)
        title = notebook_title(notebook, path.stem)
        notebook.metadata["title"] = title  # the page's <title>
        body, _ = exporter.from_notebook_node(notebook)
        page = out / (path.stem + ".html")
        page.write_text(body, encoding="utf-8")
        pages.append(page)
        rows.append(f'<tr><td><a href="{page.name}">{html.escape(title)}</a></td>'
                    f'<td><a href="{path.name}">notebook</a></td></tr>')
        shutil.copyfile(path, out / path.name)  # the .ipynb, to download and run
    workshop = NOTEBOOKS / "WORKSHOP.md"
    if workshop.is_file():
        assets.add(workshop)
    done: set[Path] = set()
    while assets - done:  # a rendered Markdown file may link to further files
        for asset in sorted(assets - done):
            done.add(asset)
            if asset.suffix == ".md":
                render_markdown(asset, out, assets)
            else:
                target = out / asset.relative_to(NOTEBOOKS)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(asset, target)
    extras = ('<p>Teaching it? Read the <a href="WORKSHOP.html">workshop guide</a>.</p>'
              if workshop.is_file() else "")
    index = PAGE.format(title="Pixel attribution, from scratch", body=(
        "<h1>Pixel attribution, from scratch</h1>\n"
        "<p>A course on saliency maps for image classifiers, in PyTorch. These pages show the "
        "notebooks with their stored outputs; download a notebook to run it.</p>\n"
        "<table><tr><th>notebook</th><th>download</th></tr>\n" + "\n".join(rows)
        + "\n</table>\n" + extras))
    (out / "index.html").write_text(index, encoding="utf-8")
    return pages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, nargs="?", default=ROOT / "_site")
    args = parser.parse_args()
    pages = build(args.out)
    print(f"{len(pages)} notebook pages and index.html in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
