"""How the layer controller tiles one layer phase: the one definition of the tiling rules.

The hardware runs a layer phase (a descriptor) as a loop of *steps* over the on-chip buffers
(``eftrain.perf`` documents the loop nest and costs it). The descriptor carries the tiling the
host chose (``Descriptor.tr``: output rows per row tile, ``Descriptor.chunk``: reduction tiles
whose weights stay on chip together); the hardware validates it with the rules below, the
analytical model's design-space exploration only proposes tilings that pass them, and the
RTL sequencer lays the tiles into the buffers exactly as :func:`phase_geometry` says.

Geometry of a phase (the *output map* is row-tiled, always at full width):

=====  ==========================  ===========================  ===========================
phase  output map (rows x width)   input map streamed           input tile in the buffer
=====  ==========================  ===========================  ===========================
fp     y: OH x OW, lanes = M       x: H x W, reduction = N      ((tr-1)*S + K) rows x (W+2P)
bp     dx: H x W, lanes = N        dy: OH x OW, reduction = M   (tr + K - 1) rows x (W+K-1)
wu     dy: OH x OW, lanes = M      x: H x W, reduction = N      ((tr-1)*S + K) rows x (W+2P)
=====  ==========================  ===========================  ===========================

BP's input tile is a window of the zero-inserted, padded gradient map
(:func:`eftrain.golden.engine.gradient_map`, ``(H+K-1) x (W+K-1)``); only the ``dy`` pixels are
loaded, everything else is zero-filled. The input tile always has its full padded height (rows
above or below the map stay zero), so its size does not depend on where the row tile lies.

*Folded* layers: a layer with ``H = W = K = S = 1, P = 0`` (every fully connected layer, and a
1 x 1 convolution on a 1 x 1 map) folds the batch into the width: the engine sees ONE image of
``1 x B`` pixels, so a step covers the whole batch instead of one pixel of one image. This
changes neither the arithmetic order (the order contract is per output element; WU's pixel
stream ``t = b`` is the same) nor the DRAM layout (each pixel of the folded row is its own
contiguous run of channels).

Rules (checked in this order, after the descriptor's other field checks):

1. ``BAD_FIELD``: ``tr`` not in ``1 .. rows`` (folded: exactly 1), or ``chunk`` not in
   ``1 .. ceil(reduction / Tn)``.
2. ``BUFFER_OVERFLOW``: the input tile (rows x width above) exceeds ``in_buf_depth``, the output
   tile ``tr * width`` exceeds ``out_buf_depth``, or the weight chunk ``chunk * K*K`` (WU:
   ``chunk * K*K * L`` partial sums) exceeds ``w_buf_depth``.
"""

from __future__ import annotations

from dataclasses import dataclass

from eftrain.config import HwConfig, preset

__all__ = ["PhaseGeometry", "check", "folded", "phase_geometry"]


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def folded(h: int, w: int, k: int, s: int, p: int) -> bool:
    """Whether the layer runs with the batch folded into the width (see the module docstring)."""
    return (h, w, k, s, p) == (1, 1, 1, 1, 0)


@dataclass(frozen=True)
class PhaseGeometry:
    """One layer phase as the layer controller tiles it (per-lane words)."""

    phase: str
    folded: bool
    images: int      # images the step loop runs over (1 when folded)
    lanes: int       # channels on the Tm output lanes
    red: int         # channels on the Tn reduction lanes
    rows: int        # rows of the output map (row-tiled)
    width: int       # its width
    in_rows: int     # rows of the streamed input map
    in_width: int    # its width
    buf_width: int   # input-buffer words per tile row
    red_tiles: int   # ceil(red / Tn)
    lane_tiles: int  # ceil(lanes / Tm)
    kk: int          # K * K

    def in_tile_rows(self, tr: int, k: int, s: int) -> int:
        """Rows of the input tile in the buffer for ``tr`` output rows."""
        return tr + k - 1 if self.phase == "bp" else (tr - 1) * s + k

    def in_tile_words(self, tr: int, k: int, s: int) -> int:
        return self.in_tile_rows(tr, k, s) * self.buf_width

    def out_tile_words(self, tr: int) -> int:
        return tr * self.width

    def w_chunk_words(self, chunk: int, acc_interleave: int) -> int:
        return chunk * self.kk * (acc_interleave if self.phase == "wu" else 1)


def phase_geometry(phase: str, cfg: HwConfig | str, batch: int, m: int, n: int, h: int, w: int,
                   k: int, s: int, p: int) -> PhaseGeometry:
    """The geometry of one layer phase (``phase`` in ``fp``, ``bp``, ``wu``)."""
    c = preset(cfg)
    oh = (h + 2 * p - k) // s + 1
    ow = (w + 2 * p - k) // s + 1
    fold = folded(h, w, k, s, p)
    if fold:
        h = w = oh = ow = batch
        h = oh = 1
    images = 1 if fold else batch
    if phase in ("fp", "wu"):
        lanes, red, rows, width, in_rows, in_width, bw = m, n, oh, ow, h, w, w + 2 * p
    elif phase == "bp":
        lanes, red, rows, width, in_rows, in_width, bw = n, m, h, w, oh, ow, w + k - 1
    else:
        raise ValueError(f"phase must be fp, bp or wu, got {phase!r}")
    return PhaseGeometry(phase, fold, images, lanes, red, rows, width, in_rows, in_width, bw,
                         _cdiv(red, c.tn), _cdiv(lanes, c.tm), k * k)


def check(g: PhaseGeometry, cfg: HwConfig | str, k: int, s: int, tr: int, chunk: int) -> str | None:
    """``None`` if the tiling is legal, else ``"field"`` (rule 1) or ``"buffer"`` (rule 2)."""
    c = preset(cfg)
    if not 1 <= tr <= g.rows or not 1 <= chunk <= g.red_tiles:
        return "field"
    if (g.in_tile_words(tr, k, s) > c.in_buf_depth or g.out_tile_words(tr) > c.out_buf_depth
            or g.w_chunk_words(chunk, c.acc_interleave) > c.w_buf_depth):
        return "buffer"
    return None
