"""One plotting style for the whole book.

Every chapter calls :func:`use_style` once, so figures look alike from chapter to
chapter, and takes its colours from :data:`COLORS` (P is always blue, Q always orange).

Example
-------
>>> import kllib.plotting as klplot
>>> klplot.use_style()
>>> klplot.COLORS["p"]
'#1f5fa8'
"""
from __future__ import annotations

import matplotlib as mpl

#: Colours with a meaning that stays the same across chapters.
COLORS = {
    "p": "#1f5fa8",        # the data / target distribution P
    "q": "#e07b00",        # the model / approximation Q
    "forward": "#2a9d4b",  # fits that minimise forward KL(P || Q)
    "reverse": "#c0392b",  # fits that minimise reverse KL(Q || P)
    "neutral": "#555555",
    "accent": "#7b3fa0",
}

#: A colour cycle for curves with no fixed meaning (colour-blind friendly).
CYCLE = ["#1f5fa8", "#e07b00", "#2a9d4b", "#c0392b", "#7b3fa0", "#8c564b", "#17becf", "#555555"]

STYLE = {
    # Figures on an opaque white background (the inline backend would make it transparent): they stay
    # readable on the site's dark mode, where the page shows them on a light card, and in print.
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "figure.figsize": (6.4, 3.6),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "figure.constrained_layout.use": True,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "font.size": 10,
    "lines.linewidth": 2.0,
    "image.cmap": "viridis",
}


def use_style() -> None:
    """Apply the book's matplotlib style (call once at the top of a chapter)."""
    mpl.rcParams.update(STYLE)
    mpl.rcParams["axes.prop_cycle"] = mpl.cycler(color=CYCLE)
