"""Layout checks shared by the figure tests: no text outside the figure, no two texts on top of each other."""

from __future__ import annotations

from collections.abc import Iterable

from matplotlib.figure import Figure
from matplotlib.text import Text


def visible_texts(fig: Figure) -> list[Text]:
    """Every visible, non-empty Text of ``fig`` (titles, tick labels, legend entries, free text)."""
    fig.canvas.draw()  # tick labels exist only once drawn
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and t.figure is not None]


def assert_no_clipped_text(fig: Figure, tol_px: float = 1.0) -> None:
    """Each visible text's window extent lies inside the figure (``tol_px`` pixels of slack)."""
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    for t in visible_texts(fig):
        b = t.get_window_extent(renderer)
        inside = b.x0 >= -tol_px and b.y0 >= -tol_px and b.x1 <= width + tol_px and b.y1 <= height + tol_px
        assert inside, f"text {t.get_text()!r} clipped: {b.bounds} outside {width:.0f}x{height:.0f}"


def assert_no_overlapping_text(fig: Figure, texts: Iterable[Text] | None = None, tol_px: float = 0.5) -> None:
    """The window extents of ``texts`` (default: every visible text of ``fig``) are pairwise disjoint.

    Boxes may touch within ``tol_px`` pixels (glyph boxes of adjacent lines share an edge).
    """
    renderer = fig.canvas.get_renderer()
    items = visible_texts(fig) if texts is None else [t for t in texts if t.get_visible() and t.get_text().strip()]
    boxes = [(t.get_text(), t.get_window_extent(renderer).expanded(1.0, 1.0)) for t in items]
    for i, (s1, b1) in enumerate(boxes):
        for s2, b2 in boxes[i + 1 :]:
            ox = min(b1.x1, b2.x1) - max(b1.x0, b2.x0)
            oy = min(b1.y1, b2.y1) - max(b1.y0, b2.y0)
            assert ox <= tol_px or oy <= tol_px, f"{s1!r} overlaps {s2!r}"
