"""One PDF page as drawing primitives: stroked/filled paths as straight segments with their style, and
the characters of its text with their boxes, in PDF points (origin bottom-left, as pdfminer reports).

pdfminer.six interprets the page; a small device collects what :mod:`~meta_bm.digitizing.vector` needs
instead of pdfminer's layout objects, and every count that a file controls is bounded while the page is
read (path points, characters, form XObject invocations), so a hostile file costs bounded time and memory.

Two things pdfminer does not do by itself and that KM figures need:

* a form XObject (matplotlib draws every marker, e.g. a censoring ``+``, as one) starts in pdfminer with
  a fresh graphics state, so its paths would lose the colour and line width set by the page around the
  ``Do``; here the form inherits the caller's state, as the PDF specification says it should;
* each path remembers which form XObject invocation (marker) it was drawn in.

Example
-------
>>> import io, matplotlib
>>> matplotlib.use("Agg")
>>> import matplotlib.pyplot as plt
>>> fig, ax = plt.subplots(figsize=(2, 2))
>>> _ = ax.plot(range(20), range(20), "+-", color="#ff0000")  # 20 marks: drawn as XObjects
>>> buf = io.BytesIO(); fig.savefig(buf, format="pdf"); plt.close(fig)
>>> pdf = open_pdf(buf.getvalue(), "line.pdf")
>>> page = pdf.page(1)
>>> {p.stroke_rgb for p in page.paths if p.marker is not None}
{'#ff0000'}
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from pdfminer.converter import PDFPageAggregator
from pdfminer.layout import LTChar
from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFPasswordIncorrect
from pdfminer.pdfinterp import PDFGraphicState, PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import PDFPage
from pdfminer.pdfparser import PDFParser
from pdfminer.psparser import PSException
from pdfminer.utils import mult_matrix

from meta_bm.digitizing.figure import DigitizeError

# Points (path vertices) on one page: a KM figure has a few thousand; 200,000 is a dense scatter plot.
MAX_PATH_POINTS = 200_000
# Characters on one page: a dense journal page has ~10,000.
MAX_CHARS = 100_000
# Form XObject invocations on one page (matplotlib: one per marker); nesting makes this grow
# multiplicatively in a hostile file, so it is bounded on its own.
MAX_FORM_CALLS = 50_000
# A form XObject drawn no larger than this (points) is a marker (matplotlib's are ~10 pt); larger
# forms are content placed on the page (a figure imported into an article).
MAX_MARKER_EXTENT = 40.0
# Pages a PDF may have for :func:`open_pdf` (journals' longest articles have a few dozen).
MAX_PAGES = 10_000


class _TooMuch(Exception):
    """A bound was exceeded while interpreting the page (turned into a DigitizeError by the caller)."""


@dataclass(frozen=True)
class PathPrimitive:
    """One painted subpath as straight segments in PDF points.

    Attributes
    ----------
    segments:
        ``(n, 4)`` array of ``x0, y0, x1, y1``; a Bézier piece is replaced by its chord (``curved``).
    stroke, fill:
        Whether the path was stroked / filled.
    stroke_rgb, fill_rgb:
        ``"#rrggbb"`` (``None`` when not representable, e.g. a pattern).
    width:
        Line width in points.
    dash:
        Dash array in points, ``()`` for a solid line.
    marker:
        Index of the form XObject invocation (marker) the path was drawn in, ``None`` on the page itself.
    curved:
        The path had Bézier pieces.
    closed:
        The path was closed (``h``) or its last point is its first.
    """

    segments: np.ndarray
    stroke: bool
    fill: bool
    stroke_rgb: str | None
    fill_rgb: str | None
    width: float
    dash: tuple[float, ...]
    marker: int | None
    curved: bool
    closed: bool

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        s = self.segments
        xs = np.concatenate([s[:, 0], s[:, 2]])
        ys = np.concatenate([s[:, 1], s[:, 3]])
        return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


@dataclass(frozen=True)
class CharPrimitive:
    """One character: its text, box in PDF points, font size, colour, whether it is upright and the angle
    of its baseline in degrees (counter-clockwise; 90 for text reading upwards, as Stata's y labels)."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    size: float
    rgb: str | None
    upright: bool
    angle: float = 0.0


@dataclass(frozen=True)
class PagePrimitives:
    """Everything drawn on one page (``width``, ``height``: the page's size in points)."""

    number: int
    width: float
    height: float
    paths: list[PathPrimitive]
    chars: list[CharPrimitive]


def colour_hex(value: object) -> str | None:
    """A pdfminer colour (grey float, RGB or CMYK tuple) as ``"#rrggbb"``; ``None`` when not a colour.

    >>> colour_hex(0.5), colour_hex((1, 0, 0)), colour_hex((0, 0, 0, 1)), colour_hex("P0")
    ('#808080', '#ff0000', '#000000', None)
    """
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rgb: tuple[float, ...] = (float(value),) * 3
        elif isinstance(value, (list, tuple)) and len(value) == 1:
            rgb = (float(value[0]),) * 3
        elif isinstance(value, (list, tuple)) and len(value) == 3:
            rgb = tuple(float(v) for v in value)
        elif isinstance(value, (list, tuple)) and len(value) == 4:
            c, m, y, k = (float(v) for v in value)
            rgb = ((1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k))
        else:
            return None
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in rgb):
        return None
    return "#" + "".join(f"{round(min(max(v, 0.0), 1.0) * 255):02x}" for v in rgb)


def _apply(ctm: tuple[float, ...], x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = ctm
    return a * x + c * y + e, b * x + d * y + f


class _Device(PDFPageAggregator):
    """Collects paths and characters (bounded) instead of building pdfminer's layout."""

    def __init__(self, rsrcmgr: PDFResourceManager) -> None:
        super().__init__(rsrcmgr, laparams=None)
        self.paths: list[PathPrimitive] = []
        self.chars: list[CharPrimitive] = []
        self.n_points = 0
        self.n_forms = 0
        self._marker_stack: list[int | None] = []

    def begin_figure(self, name: str, bbox: object, matrix: object) -> None:
        self.n_forms += 1
        if self.n_forms > MAX_FORM_CALLS:
            raise _TooMuch(f"more than {MAX_FORM_CALLS:,} form XObjects drawn on the page")
        outer = next((m for m in self._marker_stack if m is not None), None)
        if outer is not None:
            mark: int | None = outer  # nested forms belong to the outermost marker
        else:
            # a small form is a marker; a large one (a whole figure placed on a page) is not
            try:
                m = mult_matrix(tuple(matrix), self.ctm)  # type: ignore[arg-type]
                x0, y0, x1, y1 = (float(v) for v in bbox)  # type: ignore[union-attr]
                corners = [_apply(m, x, y) for x in (x0, x1) for y in (y0, y1)]
                extent = max(
                    max(c[0] for c in corners) - min(c[0] for c in corners),
                    max(c[1] for c in corners) - min(c[1] for c in corners),
                )
            except (TypeError, ValueError):
                extent = math.inf
            mark = self.n_forms if extent <= MAX_MARKER_EXTENT else None
        self._marker_stack.append(mark)
        super().begin_figure(name, bbox, matrix)  # type: ignore[arg-type]

    def end_figure(self, name: str) -> None:
        self._marker_stack.pop()
        super().end_figure(name)
        # The layout objects are not used: drop them so memory stays bounded by what is collected here.
        self.cur_item._objs.clear()

    def paint_path(self, gstate: PDFGraphicState, stroke: bool, fill: bool, evenodd: bool, path: list) -> None:
        self.n_points += len(path)
        if self.n_points > MAX_PATH_POINTS:
            raise _TooMuch(f"more than {MAX_PATH_POINTS:,} path points on the page")
        if not (stroke or fill) or not path:
            return
        ctm = tuple(float(v) for v in self.ctm)
        scale = math.sqrt(abs(ctm[0] * ctm[3] - ctm[1] * ctm[2])) or 1.0
        width = float(gstate.linewidth or 0.0) * scale
        dash: tuple[float, ...] = ()
        if gstate.dash:
            try:
                pattern = gstate.dash[0]
                dash = tuple(round(float(v) * scale, 3) for v in pattern)
            except (TypeError, ValueError, IndexError):
                dash = ()
        stroke_rgb = colour_hex(gstate.scolor)
        fill_rgb = colour_hex(gstate.ncolor)
        marker = self._marker_stack[-1] if self._marker_stack else None
        segs: list[tuple[float, float, float, float]] = []
        start: tuple[float, float] | None = None
        cur: tuple[float, float] | None = None
        curved = False

        def flush(closed: bool) -> None:
            nonlocal segs, curved
            if segs:
                arr = np.asarray(segs, dtype=float)
                is_closed = closed or (abs(arr[0, 0] - arr[-1, 2]) < 1e-9 and abs(arr[0, 1] - arr[-1, 3]) < 1e-9)
                self.paths.append(
                    PathPrimitive(arr, stroke, fill, stroke_rgb, fill_rgb, width, dash, marker, curved, is_closed)
                )
            segs = []
            curved = False

        for op in path:
            kind = op[0]
            try:
                args = [float(v) for v in op[1:]]
            except (TypeError, ValueError):
                continue
            if kind == "m" and len(args) >= 2:
                flush(False)
                start = cur = _apply(ctm, args[-2], args[-1])
            elif kind in ("l", "c", "v", "y") and len(args) >= 2 and cur is not None:
                nxt = _apply(ctm, args[-2], args[-1])
                segs.append((cur[0], cur[1], nxt[0], nxt[1]))
                curved = curved or kind != "l"
                cur = nxt
            elif kind == "h" and cur is not None and start is not None:
                if cur != start:
                    segs.append((cur[0], cur[1], start[0], start[1]))
                flush(True)
                cur = start
        flush(False)

    def render_char(self, matrix, font, fontsize, scaling, rise, cid, ncs, graphicstate) -> float:  # type: ignore[no-untyped-def]
        if len(self.chars) >= MAX_CHARS:
            raise _TooMuch(f"more than {MAX_CHARS:,} characters on the page")
        adv = super().render_char(matrix, font, fontsize, scaling, rise, cid, ncs, graphicstate)
        item = self.cur_item._objs.pop() if self.cur_item._objs else None
        if isinstance(item, LTChar):
            text = item.get_text()
            upright = bool(item.upright) and matrix[0] > 0 and abs(matrix[1]) < 1e-6 * abs(matrix[0])
            a, b, c, d = (float(v) for v in matrix[:4])
            angle = math.degrees(math.atan2(b, a)) if math.isfinite(a) and math.isfinite(b) else 0.0
            # pdfminer's size of a turned character is its advance; the font size is the scale across it
            size = float(item.size) if upright else float(fontsize) * math.hypot(c, d)
            self.chars.append(
                CharPrimitive(
                    text,
                    float(item.x0),
                    float(item.y0),
                    float(item.x1),
                    float(item.y1),
                    size if math.isfinite(size) else 0.0,
                    colour_hex(graphicstate.ncolor),
                    upright,
                    round(angle, 3),
                )
            )
        return adv


class _Interpreter(PDFPageInterpreter):
    """A form XObject inherits the graphics state of the ``Do`` that invokes it (PDF 1.7, 8.10.1)."""

    _inherited: PDFGraphicState | None = None

    def subinterp(self) -> PDFPageInterpreter:
        interp = super().subinterp()
        interp._inherited = self.graphicstate.copy()  # type: ignore[attr-defined]
        return interp

    def init_state(self, ctm: tuple[float, float, float, float, float, float]) -> None:  # type: ignore[override]
        super().init_state(ctm)
        if self._inherited is not None:
            self.graphicstate = self._inherited.copy()


class PdfFile:
    """An opened PDF: its page count and :meth:`page` to read one page's primitives."""

    def __init__(self, data: bytes, source: str) -> None:
        self.source = source
        try:
            self._parser = PDFParser(io.BytesIO(data))
            self._doc = PDFDocument(self._parser)
            self._pages = list(_bounded_pages(self._doc, source))
        except DigitizeError:
            raise
        except (PDFPasswordIncorrect, PDFEncryptionError):
            raise DigitizeError("the PDF is encrypted (password-protected): save an unprotected copy", source) from None
        except (PSException, Exception) as exc:  # pdfminer raises many kinds on a damaged file
            raise DigitizeError(f"cannot read the PDF ({type(exc).__name__}: {exc})"[:300], source) from None
        if not self._pages:
            raise DigitizeError("the PDF has no pages", source)

    @property
    def n_pages(self) -> int:
        return len(self._pages)

    def page(self, number: int) -> PagePrimitives:
        """The primitives of 1-based page ``number`` (DigitizeError naming the page on any failure)."""
        if not 1 <= number <= self.n_pages:
            raise DigitizeError(f"page {number} is out of range: the PDF has {self.n_pages} page(s)", self.source)
        pdf_page = self._pages[number - 1]
        rsrc = PDFResourceManager(caching=True)
        device = _Device(rsrc)
        interp = _Interpreter(rsrc, device)
        try:
            interp.process_page(pdf_page)
        except _TooMuch as exc:
            raise DigitizeError(f"{exc}: not a figure this tool reads", self.source, number) from None
        except RecursionError:
            raise DigitizeError("drawing nested too deeply", self.source, number) from None
        except Exception as exc:  # any pdfminer failure on a damaged page
            raise DigitizeError(
                f"cannot read the page ({type(exc).__name__}: {exc})"[:300], self.source, number
            ) from None
        x0, y0, x1, y1 = (float(v) for v in pdf_page.mediabox)
        width, height = abs(x1 - x0), abs(y1 - y0)
        if pdf_page.rotate in (90, 270):
            width, height = height, width
        return PagePrimitives(number, width, height, device.paths, device.chars)


def _bounded_pages(doc: PDFDocument, source: str) -> list[PDFPage]:
    pages = []
    for pg in PDFPage.create_pages(doc):
        pages.append(pg)
        if len(pages) > MAX_PAGES:
            raise DigitizeError(f"more than {MAX_PAGES:,} pages", source)
    return pages


def open_pdf(data: bytes, source: str) -> PdfFile:
    """Open a PDF from bytes (DigitizeError naming ``source`` when it is not a readable PDF)."""
    return PdfFile(data, source)
