"""Figure hygiene: every figure in the book has alt text that says something.

A screen reader reads a figure's alt text; without one it reads the image's file name, which for myst-nb is a
SHA-256 hash. So every code cell of ``book/*.ipynb`` that draws a figure carries the cell metadata

    {"mystnb": {"image": {"alt": "<what the figure shows and its takeaway, one or two sentences>"}}}

which myst-nb 1.4 puts on the ``<img>`` of every image the cell outputs (``render_image_options``, cell key
``image``). The tests below check that, statically (chapters are committed without outputs):

* a cell *draws a figure* when its code calls a pyplot function that creates or shows one (``plt.show``,
  ``plt.subplots``, ``plt.figure``, ``plt.plot`` ...), ``<figure>.savefig``, or displays a matplotlib figure;
  the rule reads the cell's syntax tree, so a name such as ``PPOConfig`` or a comment does not count;
* its alt text is a string of at least ``MIN_WORDS`` words and at most ``MAX_CHARS`` characters, not a file
  name, a path or a hash, not a placeholder ("figure", "plot", "image of ..."), and not the same as another
  figure's alt text in the book;
* a cell draws at most one figure (one figure per code cell: a cell's alt text describes one image).

Whether the alt text reaches the built page (``<img alt=...>``) is checked on the built site by
``tests/browser/test_accessibility.py``.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
MIN_WORDS = 5
MAX_CHARS = 600

# pyplot functions that create a figure or show one.
PYPLOT_FIGURE_CALLS = {
    "show", "figure", "subplots", "subplot", "subplot_mosaic", "plot", "scatter", "hist", "bar", "barh",
    "imshow", "matshow", "contour", "contourf", "pcolormesh", "pcolor", "step", "stairs", "fill_between",
    "errorbar", "boxplot", "violinplot", "semilogy", "semilogx", "loglog", "stem", "pie", "hexbin", "axhline",
}
# pyplot functions that create a new figure: two of them in one cell are two figures.
PYPLOT_NEW_FIGURE = {"figure", "subplots", "subplot_mosaic"}
PYPLOT_NAMES = {"plt", "pyplot", "matplotlib.pyplot"}
# an image file name anywhere, or alt text that is one word with a path separator or an extension
FILE_NAME = re.compile(r"\w\.(png|jpe?g|svg|gif|pdf|webp)\b|^\S*[/\\]\S*$|^[\w.-]+\.\w{2,4}$", re.IGNORECASE)
HASH = re.compile(r"\b[0-9a-f]{16,}\b", re.IGNORECASE)
PLACEHOLDER = re.compile(r"^\s*(an?\s+)?(figure|plot|image|graph|chart|picture|output)\b[\s.:!]*$"
                         r"|^\s*(an?\s+)?(image|picture|figure|graphic) of\b|^\s*(todo|tbd|fixme|alt)\b",
                         re.IGNORECASE)


def _code(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def figure_calls(source: str) -> tuple[int, int]:
    """(calls that draw or show a figure, calls that create a new figure) in a cell's code."""
    # IPython magics and shell lines are commented out so that ast can parse the cell
    source = "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return 0, 0
    draws = new = 0
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        owner, _, attr = name.rpartition(".")
        if owner in PYPLOT_NAMES and attr in PYPLOT_FIGURE_CALLS:
            draws += 1
            new += attr in PYPLOT_NEW_FIGURE
        elif attr == "savefig":
            draws += 1
        elif name == "display" and any(_dotted(a).startswith("fig") for a in node.args):
            draws += 1
    return draws, new


def figure_cells(nb_path: Path):
    """Yield (cell id, cell, number of new figures) for every code cell that draws a figure."""
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        draws, new = figure_calls(_code(cell))
        has_image_output = any("image/png" in out.get("data", {}) or "image/svg+xml" in out.get("data", {})
                               for out in cell.get("outputs", []))
        if draws or has_image_output:
            yield cell.get("id", f"#{i}"), cell, new


def alt_text(cell):
    image = cell.get("metadata", {}).get("mystnb", {}).get("image", {})
    return image.get("alt") if isinstance(image, dict) else None


def alt_problem(alt) -> str | None:
    """What is wrong with this alt text, or None."""
    if not isinstance(alt, str) or not alt.strip():
        return 'no alt text: add cell metadata {"mystnb": {"image": {"alt": "..."}}}'
    if FILE_NAME.search(alt):
        return f"alt text {alt!r} looks like a file name or path"
    if HASH.search(alt):
        return f"alt text {alt!r} contains a hash"
    if PLACEHOLDER.search(alt):
        return f"alt text {alt!r} is a placeholder: say what the figure shows and its takeaway"
    if len(alt.split()) < MIN_WORDS:
        return f"alt text {alt!r} has fewer than {MIN_WORDS} words: say what the figure shows and its takeaway"
    if len(alt) > MAX_CHARS:
        return f"alt text has {len(alt)} characters (at most {MAX_CHARS}): keep it to one or two sentences"
    return None


def test_rule_finds_figures():
    """The figure rule on small examples (so a broken rule cannot pass every notebook silently)."""
    assert figure_calls("fig, ax = plt.subplots()\nax.plot(x, y)\nplt.show()") == (2, 1)
    assert figure_calls("cfg = PPOConfig(seed=0)  # fig, plt.show()") == (0, 0)
    assert figure_calls("%matplotlib inline\nplt.figure()") == (1, 1)
    assert figure_calls("fig.savefig('a.png')") == (1, 0)
    assert figure_calls("plt.subplots()\nplt.show()\nplt.subplots()\nplt.show()")[1] == 2
    assert alt_problem("3f2a9c1e0b7d4a6f8e2c1d0b9a8f7e6d.png")
    assert alt_problem("Figure")
    assert alt_problem("Image of a plot of KL divergence")
    assert alt_problem("")
    assert alt_problem(None)
    assert alt_problem("_build/jupyter_execute/figure-3.png")
    assert alt_problem("KL grows with the gap") is None
    assert alt_problem("Bars of P (all faces 1/6) and Q; the sum is 0.35 bits.") is None


def test_book_has_figures():
    assert NOTEBOOKS, "no notebooks under book/"
    assert sum(1 for nb in NOTEBOOKS for _ in figure_cells(nb)) >= 10


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_figure_has_meaningful_alt_text(nb_path):
    problems = []
    for cell_id, cell, _ in figure_cells(nb_path):
        problem = alt_problem(alt_text(cell))
        if problem:
            problems.append(f"cell {cell_id}: {problem}")
    assert not problems, f"{nb_path.name}: figure cells without meaningful alt text:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_figure_per_cell(nb_path):
    many = [f"cell {cell_id}: {new} figures" for cell_id, _, new in figure_cells(nb_path) if new > 1]
    assert not many, (f"{nb_path.name}: one figure per code cell (the cell's alt text describes one image); "
                      "split these cells:\n  " + "\n  ".join(many))


def test_alt_texts_are_not_copies():
    seen: dict[str, str] = {}
    copies = []
    for nb_path in NOTEBOOKS:
        for cell_id, cell, _ in figure_cells(nb_path):
            alt = alt_text(cell)
            if isinstance(alt, str) and alt.strip():
                key = " ".join(alt.lower().split())
                if key in seen:
                    copies.append(f"{nb_path.name} cell {cell_id} repeats {seen[key]}")
                else:
                    seen[key] = f"{nb_path.name} cell {cell_id}"
    assert not copies, "alt text copied from another figure:\n  " + "\n  ".join(copies)
