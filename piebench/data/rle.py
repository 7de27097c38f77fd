"""PIE-Bench mask run-length codec.

PIE-Bench stores each edit mask as a flat list ``[start, length, start, length, ...]`` over the
row-major flattened grid (512x512 in the benchmark), 1 = region to edit. Runs are clipped at the
end of the grid. The reference decoder then sets the one-pixel image border to 1 ("annotation
errors at the boundary"); parity mode keeps that quirk, ``border=False`` turns it off.

Decoding is vectorised with a difference array (+1 at each run start, -1 after its end, then a
cumulative sum), so a 512x512 mask costs a few array operations instead of a per-pixel loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class MaskDecodeError(ValueError):
    """The RLE list cannot describe a mask of the requested size."""


def _runs(encoded: Sequence[int]) -> np.ndarray:
    """The RLE list as int64 start/length pairs; raises for what the reference cannot decode
    either (an odd length: its IndexError; non-integer values: its TypeError)."""
    runs = np.asarray(encoded)
    if runs.ndim != 1:
        raise MaskDecodeError(f"mask RLE must be a flat list, got shape {runs.shape}")
    if runs.size % 2:
        raise MaskDecodeError(f"mask RLE has odd length {runs.size}; expected start/length pairs")
    integral = np.issubdtype(runs.dtype, np.integer) or (
        np.issubdtype(runs.dtype, np.number) and np.all(np.mod(runs, 1) == 0)
    )
    if runs.size and not integral:
        raise MaskDecodeError("mask RLE holds non-integer values")
    return runs.astype(np.int64)


def decode_rle(
    encoded: Sequence[int], shape: tuple[int, int] = (512, 512), border: bool = True
) -> np.ndarray:
    """Decode a PIE-Bench RLE list into a ``uint8`` mask of ``shape`` (1 = edit region).

    Odd runs read as the reference decoder's loop reads them: a run that extends past the end is
    clipped; one that starts past the end, or has a length <= 0, sets nothing; a negative start
    counts from the end of the grid (Python indexing), wrapping to its start. Raises
    ``MaskDecodeError`` for an odd-length list, non-integer values, or a start before
    -(grid size) (the reference's IndexError); ``rle_quirks`` names the odd runs.
    """
    length = shape[0] * shape[1]
    runs = _runs(encoded)
    starts, lengths = runs[0::2], runs[1::2]
    if np.any(starts < -length):
        bad = int(starts[starts < -length][0])
        raise MaskDecodeError(
            f"mask RLE run starts at {bad}, before the {shape[0]}x{shape[1]} grid"
        )
    ends = np.minimum(starts + lengths, length)
    live = (lengths > 0) & (starts < length)
    lo, hi = starts[live], ends[live]
    wrapped = lo < 0  # the part before index 0 lands at the end of the grid
    from_end = (lo[wrapped] + length, np.minimum(hi[wrapped], 0) + length)
    head = (np.maximum(lo, 0), hi)
    kept = head[1] > head[0]
    delta = np.zeros(length + 1, dtype=np.int64)
    for run_lo, run_hi in (from_end, (head[0][kept], head[1][kept])):
        np.add.at(delta, run_lo, 1)
        np.add.at(delta, run_hi, -1)
    mask = (np.cumsum(delta[:-1]) > 0).astype(np.uint8).reshape(shape)
    if border:
        mask[0, :] = mask[-1, :] = 1
        mask[:, 0] = mask[:, -1] = 1
    return mask


def rle_quirks(encoded: Sequence[int], shape: tuple[int, int] = (512, 512)) -> list[str]:
    """One line per run the reference decoder reads in its own way (``decode_rle``), for a
    sample's warnings: such a mask decodes as the reference's, but is likely an annotation slip."""
    length = shape[0] * shape[1]
    runs = _runs(encoded)
    notes = []
    for index, (start, size) in enumerate(zip(runs[0::2].tolist(), runs[1::2].tolist())):
        if size <= 0:
            notes.append(f"mask run {index} has length {size}: it sets nothing")
        elif start >= length:
            notes.append(f"mask run {index} starts at {start}, past the grid: it sets nothing")
        elif start < 0:
            notes.append(
                f"mask run {index} starts at {start}: counted from the end of the grid, as the "
                "reference's Python indexing does"
            )
    return notes


def encode_rle(mask: np.ndarray) -> list[int]:
    """Encode a binary mask as a PIE-Bench RLE list (row-major runs of ones)."""
    flat = np.asarray(mask).astype(bool).ravel()
    padded = np.concatenate([[False], flat, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    starts, ends = edges[0::2], edges[1::2]
    out = np.empty(starts.size * 2, dtype=np.int64)
    out[0::2], out[1::2] = starts, ends - starts
    return out.tolist()
