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


def decode_rle(
    encoded: Sequence[int], shape: tuple[int, int] = (512, 512), border: bool = True
) -> np.ndarray:
    """Decode a PIE-Bench RLE list into a ``uint8`` mask of ``shape`` (1 = edit region).

    Raises ``MaskDecodeError`` for an odd-length list, non-integer or negative values, or a run
    that starts outside the grid. A run that extends past the end is clipped, as in the reference.
    """
    length = shape[0] * shape[1]
    runs = np.asarray(encoded)
    if runs.ndim != 1:
        raise MaskDecodeError(f"mask RLE must be a flat list, got shape {runs.shape}")
    if runs.size % 2:
        raise MaskDecodeError(f"mask RLE has odd length {runs.size}; expected start/length pairs")
    if runs.size and not np.issubdtype(runs.dtype, np.integer):
        if not np.issubdtype(runs.dtype, np.number) or not np.all(np.mod(runs, 1) == 0):
            raise MaskDecodeError("mask RLE holds non-integer values")
        runs = runs.astype(np.int64)
    runs = runs.astype(np.int64, copy=False)
    if np.any(runs < 0):
        raise MaskDecodeError("mask RLE holds negative values")
    starts, lengths = runs[0::2], runs[1::2]
    if np.any(starts >= length):
        bad = int(starts[starts >= length][0])
        raise MaskDecodeError(
            f"mask RLE run starts at {bad}, outside the {shape[0]}x{shape[1]} grid"
        )
    ends = np.minimum(starts + lengths, length)
    delta = np.zeros(length + 1, dtype=np.int64)
    np.add.at(delta, starts, 1)
    np.add.at(delta, ends, -1)
    mask = (np.cumsum(delta[:-1]) > 0).astype(np.uint8).reshape(shape)
    if border:
        mask[0, :] = mask[-1, :] = 1
        mask[:, 0] = mask[:, -1] = 1
    return mask


def encode_rle(mask: np.ndarray) -> list[int]:
    """Encode a binary mask as a PIE-Bench RLE list (row-major runs of ones)."""
    flat = np.asarray(mask).astype(bool).ravel()
    padded = np.concatenate([[False], flat, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    starts, ends = edges[0::2], edges[1::2]
    out = np.empty(starts.size * 2, dtype=np.int64)
    out[0::2], out[1::2] = starts, ends - starts
    return out.tolist()
