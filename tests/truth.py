"""Is the prose of a course notebook true to its outputs? Two checks, shared by the tests.

    python tests/truth.py                      # report every notebook
    python tests/truth.py notebooks/04_*.ipynb # report some

**Quoted numbers** (:func:`unmatched_numbers`). Every number quoted in a markdown cell must be
printed, to the quoted rounding, by an output of the same notebook (stream text, ``text/plain``
or ``text/markdown`` of a code cell), or written as a literal in one of its code cells (a
setting such as ``n_samples=50``), or be listed in ``tests/quoted_numbers.toml`` with a reason
(read off a figure, quoted from a paper).

*Which tokens are quoted results.* After removing code (fenced and inline), LaTeX math
(``$…$``, ``$$…$$``), HTML tags, link targets, headings, navigation lines and the References
section, a number counts when it is

- a decimal (``0.42``, ``−2.59``, ``4.9e-01``), a percentage (``85.8 %``, ``16%``), a factor
  (``2.5×``, ``50 times``), a number with thousands separators (``602 112``, ``4,652,008``)
  or a scaled number (``6.2 million``), or
- an integer of 10 or more (``170 passes``, ``16 pairs``).

Integers below 10 are not checked (they are mostly counts of things on the page: "4 photos",
"3 colours"). These tokens are *structural*, never checked: numbers written in math (a formula,
or an illustrative value: write it as ``$0.01$``), in code spans or in headings; numbers glued
to letters (``ReLU6``, ``top-5``, ``99th``, ``float32``); version numbers (``2.14.1``); years
(four digits from 1900 to 2099); numbers after *notebook, section, §, exercise, step, stage,
block, layer, cell, figure, table, row, column, seed, index, version, Python, torch, arXiv,
page* (and the numbers joined to them by *and, or, to, –, ,*, as in "notebooks 01 and 02");
numbers with a leading zero (``07``, a notebook number); image and tensor sizes (``224 × 224``,
``3 × 224 × 224``: a number next to ``×`` and another number); fractions (``1/255``); planned
durations (``30 min``, ``2 hours``: the time guard checks those); list numbering at the start of
a line (``1.``, ``**2.**``).

*Matching "to the quoted rounding".* A quote with *d* decimals stands for the interval
``value ± 10**-d / 2``; a printed number matches when it lies in that interval (a printed
``0.425`` may be quoted as ``0.42`` or ``0.43``) and is printed with at least *d* decimals:
``0.42`` matches a printed ``0.4213``, ``0.42`` or ``4.2e-01``, but ``0.4213`` does not match
a printed ``0.42``.
Percentages match either way: ``85.8 %`` matches ``0.858``, ``85.8%`` or ``85.8``; ``0.858``
matches a printed ``85.8%``. ``6.2 million`` matches ``6,157,536``. Signs: a quote with an
explicit sign (``−0.06``, ``+0.13``) needs a printed number of that sign; an unsigned quote
matches either sign (prose says "a drop of 0.12" of a printed ``-0.12``). Thousands separators
(comma, space, thin or no-break space) are ignored on both sides; ``−`` (U+2212) is a minus.

**Asserted claims** (:func:`unasserted_claims`). A sentence that makes a comparative or ordinal
claim (*beats, worst, best, higher/lower than, falls below, more/less than, faster, nearly the
same, …*) must rest on a code cell that contains an ``assert`` (or an ``assert_close``-style
call). Each number the sentence quotes that an output prints must be printed by a cell that
asserts, or be the threshold (a literal) of an assert in a neighbouring cell — the check the
sentence describes. A sentence without printed numbers rests on its neighbours: the nearest
code cell before or after its markdown cell, or a cell the markdown points to ("section 6",
"exercise 2", "the check below" → the notebook's check cells). This is a lint,
not a proof: it keeps false positives low by ignoring math, code, headings, citations ("et al.")
and the Summary (a summary restates claims made, and linted, above it). Sentences that quote a
paper or describe a formula in words go into ``tests/claims_without_assert.toml``.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NUMBER_ALLOWLIST = Path(__file__).with_name("quoted_numbers.toml")
CLAIM_ALLOWLIST = Path(__file__).with_name("claims_without_assert.toml")

MINUS = "\u2212"
SPACES = " \u00a0\u2009\u202f"  # thousands separators that may sit between digit groups

# ----------------------------------------------------------------------------- markdown → prose

FENCED = re.compile(r"```.*?```|~~~.*?~~~", re.DOTALL)
DISPLAY_MATH = re.compile(r"\$\$.*?\$\$|\\\[.*?\\\]|\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.DOTALL)
INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)(?:\\.|[^$\\])+?\$|\\\(.*?\\\)", re.DOTALL)
INLINE_CODE = re.compile(r"`[^`]*`")
IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
AUTOLINK = re.compile(r"<(?:https?|mailto):[^>]*>|https?://\S+")
HTML_TAG = re.compile(r"<[^>\n]+>")
HEADING_LINE = re.compile(r"^\s{0,3}#{1,6}\s.*$", re.MULTILINE)
NAV_LINE = re.compile(r"^.*\[Course map\]\(.*$", re.MULTILINE)
REFERENCES = re.compile(r"^\s{0,3}#{1,6}\s*(References|Further reading|Sources)\b", re.I | re.M)


def prose(markdown: str, keep_headings: bool = False) -> str:
    """The running text of a markdown cell: no code, math, tags, link targets or headings.

    Removed parts become spaces of the same length only where it matters for sentence
    splitting; the text is for scanning, not for display.
    """
    text = NAV_LINE.sub(" ", markdown)
    reference = REFERENCES.search(text)
    if reference:  # the reference list is citations: years, volumes, arXiv numbers
        text = text[:reference.start()]
    text = FENCED.sub(" ", text)
    text = DISPLAY_MATH.sub(" ", text)
    text = INLINE_CODE.sub(" ", text)
    text = INLINE_MATH.sub(" ", text)
    text = IMAGE.sub(" ", text)
    text = LINK.sub(r"\1", text)
    text = AUTOLINK.sub(" ", text)
    text = HTML_TAG.sub(" ", text)
    if not keep_headings:
        text = HEADING_LINE.sub(" ", text)
    return text


# ----------------------------------------------------------------------------- numbers

@dataclass(frozen=True)
class Number:
    """A number as written: its value, its resolution (one unit in the last digit) and kind."""

    text: str
    value: float
    resolution: float
    percent: bool = False
    signed: bool = False  # written with an explicit sign


_INT = rf"\d{{1,3}}(?:[,{SPACES}]\d{{3}})+(?!\d)|\d+"
NUMBER = re.compile(
    rf"(?P<sign>[-+{MINUS}]?)(?P<int>{_INT})(?:\.(?P<frac>\d+))?"
    rf"(?:[eE](?P<exp>[-+{MINUS}]?\d+))?")
SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9}
STRUCTURAL_BEFORE = re.compile(
    r"(?:\b(?:notebooks?|sections?|exercises?|steps?|stages?|blocks?|layers?|cells?|figures?|"
    r"fig\.|tables?|rows?|columns?|seeds?|index|indices|versions?|v|python|torch|torchvision|"
    r"arxiv|pages?|pp\.|chapters?|equations?|eq\.|parts?|questions?|items?|issues?|line|"
    r"lines|classes|class|level|levels|no\.|nr\.)|§|#|arXiv:)\s*$", re.I)
JOINER = re.compile(r"^\s*(?:,|and|or|to|–|—|-|&|\+)\s*$", re.I)
DURATION_AFTER = re.compile(r"^\s*(?:[-–]\s*\d+(?:\.\d+)?\s*)?(?:min\b|mins\b|minutes?\b|"
                            r"hours?\b|h\b)")
PERCENT_AFTER = re.compile(r"^\s?%")
RANGE_PERCENT_AFTER = re.compile(rf"^\s*(?:–|-|to|and)\s*[-+{MINUS}]?[\d.,]+\s?%")
FACTOR_AFTER = re.compile(r"^\s*(?:×|x\b)(?!\s*\d)|^\s*times\b")
DIMENSION = re.compile(r"^\s*×\s*\d")
DIMENSION_BEFORE = re.compile(r"\d\s*×\s*$")
CLASS_COUNT_AFTER = re.compile(r"^\s+(?:ImageNet\s+)?class(?:es)?\b")
SCALE_AFTER = re.compile(r"^\s+(thousand|million|billion)\b", re.I)


def _parse(match: re.Match, percent: bool = False, scale: float = 1.0) -> Number:
    sign = match.group("sign").replace(MINUS, "-")
    digits = re.sub(rf"[,{SPACES}]", "", match.group("int"))
    frac, exp = match.group("frac") or "", (match.group("exp") or "").replace(MINUS, "-")
    value = float(f"{sign or ''}{digits}.{frac or '0'}") * 10 ** int(exp or 0) * scale
    resolution = 10.0 ** (-len(frac) + int(exp or 0)) * scale
    return Number(match.group(0), value, resolution, percent, signed=bool(sign))


def quoted_numbers(markdown: str) -> list[Number]:
    """The numbers a markdown cell quotes as results (see the module docstring for the rule)."""
    text = prose(markdown)
    found: list[Number] = []
    previous_structural_end: int | None = None  # end of the last structural number
    for match in NUMBER.finditer(text):
        start, end = match.span()
        sign = match.group("sign")
        before, after = text[max(0, start - 40):start], text[end:end + 40]
        signed_start = start
        if sign and start > 0 and text[start - 1].isdigit():
            start += len(sign)  # "1.43-1.66": a range dash, not a minus
            sign = ""
        elif sign and start > 0 and (text[start - 1].isalpha() or text[start - 1] in "_."):
            continue  # "ResNet-18", "top-5": part of a name
        if signed_start == start and start > 0 and (text[signed_start - 1].isalnum()
                                                    or text[signed_start - 1] in "_./\\^"):
            continue  # glued to a word (ReLU6, float32) or a fraction (1/255)
        if not sign and match.group("sign"):
            match = NUMBER.match(text, start)
        if after[:1].isalpha() and not after.startswith(("x ", "x,", "x.")) \
                and not re.match(r"^[eE]\d", after):
            continue  # 99th, 2nd, 3D, 224px
        if (after[:1] and after[:1] in "/_") or re.match(r"^\.\d", after):
            continue  # a fraction 1/255, a version 2.14.1
        if re.match(r"^-[A-Za-z]", after) or CLASS_COUNT_AFTER.match(after):
            continue  # "224-pixel", "16-step" (a setting); "1000 classes" (the data set)
        joined = previous_structural_end is not None and \
            JOINER.match(text[previous_structural_end:start]) is not None
        if STRUCTURAL_BEFORE.search(before) or joined:
            previous_structural_end = end
            continue
        if re.match(r"^0\d", match.group("int")):
            previous_structural_end = end
            continue  # "07": a notebook number
        line_start = text.rfind("\n", 0, start) + 1
        if re.match(r"^\s*\|\s*$", text[line_start:start]) and re.match(r"^\s*\|", after):
            continue  # "| 11 |": the row label of a table (a notebook number)
        if re.match(r"^\s*(?:[-*+]\s+)?(?:\*\*)?$", text[line_start:start]) \
                and re.match(r"^(?:\.|\))(?:\*\*)?\s", after):
            continue  # list numbering "1. ", "**2.** "
        if DIMENSION.match(after) or DIMENSION_BEFORE.search(before):
            continue  # 224 × 224
        if DURATION_AFTER.match(after):
            continue  # planned time
        integer = match.group("frac") is None and match.group("exp") is None
        digits = re.sub(rf"[,{SPACES}]", "", match.group("int"))
        if integer and len(digits) == 4 and 1900 <= int(digits) <= 2099 \
                and match.group("int") == digits:
            continue  # a year
        percent = bool(PERCENT_AFTER.match(after) or RANGE_PERCENT_AFTER.match(after))
        scale_word = SCALE_AFTER.match(after)
        scale = SCALE[scale_word.group(1).lower()] if scale_word else 1.0
        factor = bool(FACTOR_AFTER.match(after))
        separated = digits != match.group("int")
        if integer and not (percent or factor or separated or scale_word) and int(digits) < 10:
            continue
        found.append(_parse(match, percent, scale))
    return found


PRINTED = re.compile(
    rf"(?P<sign>[-+{MINUS}]?)(?P<int>\d{{1,3}}(?:,\d{{3}})+(?!\d)|\d+)(?:\.(?P<frac>\d+))?"
    rf"(?:[eE](?P<exp>[-+{MINUS}]?\d+))?(?P<pct>\s?%)?")


def printed_numbers(text: str) -> list[Number]:
    """Every number in an output text (lenient: more candidates only mean fewer failures)."""
    out = []
    for match in PRINTED.finditer(text):
        number = _parse(match, percent=bool(match.group("pct")))
        out.append(number)
        if match.group("sign") == "-" and match.start() > 0 and text[match.start() - 1].isalnum():
            # "0.2-0.3" or "a-1": the hyphen may be a dash, so keep the unsigned reading too
            out.append(Number(number.text, abs(number.value), number.resolution,
                              number.percent, signed=False))
    return out


def _candidates(quoted: Number, printed: Number) -> list[tuple[float, float]]:
    """(value, resolution) readings of a printed number on the quoted number's scale."""
    readings = [(printed.value, printed.resolution)]
    if quoted.percent and not printed.percent:
        readings.append((printed.value * 100, printed.resolution * 100))
    if printed.percent and not quoted.percent:
        readings.append((printed.value / 100, printed.resolution / 100))
    return readings


def matches(quoted: Number, printed: Number) -> bool:
    """Does ``printed`` show ``quoted`` to the quoted rounding (see the module docstring)?"""
    for value, resolution in _candidates(quoted, printed):
        if resolution > quoted.resolution * 1.0001:
            continue  # printed less precisely than quoted
        if not quoted.signed:
            value = abs(value)
            target = abs(quoted.value)
        else:
            target = quoted.value
        if abs(value - target) <= quoted.resolution / 2 * (1 + 1e-9) + 1e-12 * abs(target):
            return True
    return False


def output_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            for mime in ("text/plain", "text/markdown"):
                value = output.get("data", {}).get(mime)
                if value:
                    parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(parts)


def code_literals(source: str) -> list[Number]:
    """Numeric literals of a code cell (settings such as ``stride=16`` or ``sigma=0.15``)."""
    literals = []
    try:
        tree = ast.parse(_without_magics(source))
    except SyntaxError:
        return literals
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            text = ast.get_source_segment(_without_magics(source), node) or repr(node.value)
            # a literal is exact: it matches a quote of any precision ("60 %" and 0.6)
            literals.append(Number(text, float(node.value), 0.0))
    return literals


def _without_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def load_allowlist(path: Path) -> dict[str, list[dict]]:
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    return {name: list(entries) for name, entries in data.items()}


@dataclass(frozen=True)
class Finding:
    notebook: str
    cell: int
    cell_id: str
    text: str      # the number as quoted, or the sentence with the claim
    context: str   # a snippet around it

    def __str__(self) -> str:
        return f"{self.notebook} cell {self.cell} [{self.cell_id}]: {self.text!r} … {self.context}"


def _context(text: str, needle: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    k = flat.find(needle)
    if k < 0:
        return flat[:2 * width]
    return flat[max(0, k - width):k + len(needle) + width]


def unmatched_numbers(path: Path, allowlist: dict[str, list[dict]] | None = None
                      ) -> list[Finding]:
    """Numbers quoted in the markdown of ``path`` that no output or code literal shows."""
    notebook = nbformat.read(path, as_version=4)
    allowed = (load_allowlist(NUMBER_ALLOWLIST) if allowlist is None else allowlist) \
        .get(path.name, [])
    printed: list[Number] = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            printed += printed_numbers(output_text(cell))
            printed += code_literals(cell.source)
    findings = []
    for k, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        for number in quoted_numbers(cell.source):
            if any(matches(number, p) for p in printed):
                continue
            if any(_allowed(entry, number, cell) for entry in allowed):
                continue
            findings.append(Finding(path.name, k, cell.get("id", ""), number.text.strip(),
                                    _context(prose(cell.source), number.text.strip())))
    return findings


def _allowed(entry: dict, number: Number, cell: nbformat.NotebookNode) -> bool:
    """An allow-list entry: ``number`` as written (and optionally ``near``, text in the cell)."""
    same = entry["number"].replace(MINUS, "-").replace(" ", "") == \
        number.text.strip().replace(MINUS, "-").replace(" ", "").replace("\u202f", "")
    return same and entry.get("near", "") in cell.source


# ----------------------------------------------------------------------------- claims

COMPARATIVE = re.compile(
    r"\b(?:beats?|beaten|outperforms?|outperformed|worst|"
    r"best(?![*_]*\s*[*_]*(?:guess|felt|seen|read|understood|known|described|left|done|used|practice))|"
    r"(?:higher|lower|larger|smaller|greater|bigger|faster|slower|better|worse|"
    r"sharper|cleaner|closer|stronger|weaker)\s+than|"
    r"(?:more|less|fewer)\s+than(?!\s+(?:one|a\s+few|a\s+single|a\s+couple|once)\b)"
    r"(?=\s*[\w$(])|"
    r"falls?\s+below|fell\s+below|drops?\s+below|dropped\s+below|rises?\s+above|rose\s+above|"
    r"stays?\s+(?:below|above|under)|exceeds?|exceeded|"
    r"faster|slower|"
    r"(?:nearly|almost|practically|essentially|virtually)\s+(?:the\s+same|identical|"
    r"indistinguishable|equal)|indistinguishable|"
    r"wins?|won|loses\s+to|lost\s+to|ranks?\s+(?:last|highest|lowest)|"
    r"the\s+(?:fastest|slowest|cleanest|sharpest|highest-scoring|lowest-scoring))\b",
    re.I)
CITATION = re.compile(r"\bet al\.|\(\d{4}\)|\b(?:19|20)\d\d\)")
POINTER = re.compile(r"\b(section|§|exercise)\s*(\d+|[a-z]\.\d+|\([a-z]\))", re.I)
CHECK_POINTER = re.compile(r"\b(the check|check (?:cell|below|above)|checked (?:below|above)|"
                           r"asserted|the asserts?)\b", re.I)
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(*_])|\n\s*\n|\n\s*[-*+]\s+")


def has_assert(source: str) -> bool:
    """Does a code cell assert something (``assert``, ``assert_close``, ``assert_allclose``…)?"""
    try:
        tree = ast.parse(_without_magics(source))
    except SyntaxError:
        return "assert" in source
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else \
                getattr(node.func, "id", "")
            if name.startswith("assert"):
                return True
    return False


def sections(cells: list) -> dict[str, list[int]]:
    """Cell indices per numbered section ("## 6 · …" → "6", "### a.3 · …" → "a.3")."""
    found: dict[str, list[int]] = {}
    current = None
    for k, cell in enumerate(cells):
        if cell.cell_type == "markdown":
            for heading in re.findall(r"^#{2,4}\s+(?:\()?([0-9]+|[a-z]\.[0-9]+|[a-z])(?:\))?"
                                      r"\s*[·.:)]", cell.source, re.M):
                current = heading.lower()
        if current is not None:
            found.setdefault(current, []).append(k)
    return found


def exercise_cells(cells: list) -> dict[str, list[int]]:
    """Code cells of each exercise's worked solution, by exercise number."""
    sys.path.insert(0, str(Path(__file__).parent))
    import make_student_edition as student  # noqa: PLC0415 (a sibling script)

    return {str(number): [i for i in indices if cells[i].cell_type == "code"]
            for number, indices in student.solution_blocks(cells) if number is not None}


GOALS = re.compile(r"^\s{0,3}#{1,6}\s*Learning goals.*?(?=^\s{0,3}#{1,6}\s|\Z)|"
                   r"^\*\*Learning goals\*\*.*?(?=^\s*\*\*[A-Z][^*]*[:.]?\*\*|\Z)",
                   re.M | re.S | re.I)


def claim_sentences(markdown: str) -> list[str]:
    """Sentences of a markdown cell with a comparative or ordinal word (learning goals,
    questions and sentences with a citation excluded)."""
    text = prose(GOALS.sub(" ", markdown))
    out = []
    for sentence in SENTENCE.split(text):
        sentence = " ".join(sentence.split())
        if sentence and COMPARATIVE.search(sentence) and not CITATION.search(sentence) \
                and not sentence.rstrip("*_ ").endswith("?"):  # a question claims nothing
            out.append(sentence)
    return out


def unasserted_claims(path: Path, allowlist: dict[str, list[dict]] | None = None
                      ) -> list[Finding]:
    """Comparative sentences that rest on no assert (see the module docstring).

    A number of the sentence is *backed* when a cell that prints it asserts, or when an
    asserting cell next to the sentence (or one it points to) writes it as a literal — the
    threshold of the assert the sentence describes. A sentence passes when every number it
    quotes that some output prints is backed, and at least one number is; a sentence whose
    numbers no output prints passes when a neighbouring code cell asserts.
    """
    notebook = nbformat.read(path, as_version=4)
    cells = notebook.cells
    allowed = (load_allowlist(CLAIM_ALLOWLIST) if allowlist is None else allowlist) \
        .get(path.name, [])
    by_section, by_exercise = sections(cells), exercise_cells(cells)
    asserting = {k for k, cell in enumerate(cells)
                 if cell.cell_type == "code" and has_assert(cell.source)}
    printed = {k: printed_numbers(output_text(cell)) for k, cell in enumerate(cells)
               if cell.cell_type == "code"}
    literals = {k: code_literals(cell.source) for k, cell in enumerate(cells)
                if cell.cell_type == "code"}
    findings = []
    for k, cell in enumerate(cells):
        if cell.cell_type != "markdown" or re.search(r"^#{1,6}\s+Summary\b", cell.source, re.M):
            continue
        claims = [s for s in claim_sentences(cell.source)
                  if not any(entry["sentence"] in s for entry in allowed)]
        if not claims:
            continue
        neighbours = set()
        before = next((i for i in range(k - 1, -1, -1) if cells[i].cell_type == "code"), None)
        after = next((i for i in range(k + 1, len(cells)) if cells[i].cell_type == "code"), None)
        neighbours |= {i for i in (before, after) if i is not None}
        for kind, label in POINTER.findall(prose(cell.source)):
            label = label.strip("()").lower()
            target = by_exercise if kind.lower() == "exercise" else by_section
            neighbours |= set(target.get(label, []))
        if CHECK_POINTER.search(prose(cell.source)):
            neighbours |= asserting
        checks_here = neighbours & asserting
        for sentence in claims:
            unbacked: set[int] = set()   # cells that print a number no assert backs
            backed = False
            for number in quoted_numbers(sentence):
                producers = {i for i, values in printed.items()
                             if any(matches(number, v) for v in values)}
                as_threshold = any(matches(number, v) for i in checks_here
                                   for v in literals[i])
                if producers & asserting or as_threshold:
                    backed = True
                elif producers:
                    unbacked |= producers
            if unbacked:
                where = (f"no assert in cell {', '.join(map(str, sorted(unbacked)))}, which "
                         "prints its numbers")
            elif backed or checks_here:
                continue
            else:
                where = "no assert next to it"
            findings.append(Finding(path.name, k, cell.get("id", ""), sentence,
                                    f"{COMPARATIVE.search(sentence).group(0)}: {where}"))
    return findings


# ----------------------------------------------------------------------------- report

def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    total = 0
    for path in paths:
        numbers, claims = unmatched_numbers(path), unasserted_claims(path)
        total += len(numbers) + len(claims)
        print(f"## {path.name}: {len(numbers)} unprinted numbers, {len(claims)} unasserted claims")
        for finding in numbers:
            print(f"  number  cell {finding.cell:3d}: {finding.text:>10}  … {finding.context}")
        for finding in claims:
            print(f"  claim   cell {finding.cell:3d}: [{finding.context}] {finding.text}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
