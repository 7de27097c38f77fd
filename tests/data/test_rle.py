import numpy as np
import pytest

from piebench.data.rle import MaskDecodeError, decode_rle, encode_rle


def loop_decode(encoded, shape=(512, 512), border=True):
    """A straightforward per-pixel decode, written from the protocol's description."""
    length = shape[0] * shape[1]
    flat = np.zeros(length, dtype=np.uint8)
    for i in range(0, len(encoded), 2):
        start, run = encoded[i], encoded[i + 1]
        for j in range(min(run, length - start)):
            flat[start + j] = 1
    mask = flat.reshape(shape)
    if border:
        mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = 1
    return mask


@pytest.mark.parametrize("border", [True, False])
@pytest.mark.parametrize("seed", range(5))
def test_decode_matches_loop_decode_on_random_masks(seed, border):
    rng = np.random.default_rng(seed)
    shape = (64, 48)
    mask = (rng.random(shape) < rng.uniform(0.05, 0.9)).astype(np.uint8)
    encoded = encode_rle(mask)
    if encoded:  # a run that overflows the grid is clipped, as in the reference
        encoded[-1] += 1000
    np.testing.assert_array_equal(
        decode_rle(encoded, shape, border), loop_decode(encoded, shape, border)
    )
    if not border:
        np.testing.assert_array_equal(decode_rle(encode_rle(mask), shape, border=False), mask)


def test_overlapping_runs_and_empty_list():
    encoded = [0, 5, 3, 4, 100, 2]
    np.testing.assert_array_equal(
        decode_rle(encoded, (16, 16), False), loop_decode(encoded, (16, 16), False)
    )
    assert decode_rle([], (8, 8), border=False).sum() == 0
    assert decode_rle([], (8, 8), border=True).sum() == 28


@pytest.mark.parametrize(
    "encoded, message",
    [
        ([0, 5, 7], "odd length"),
        ([-1, 5], "negative"),
        ([0, -5], "negative"),
        ([600, 2], "outside"),
        ([0.5, 2], "non-integer"),
    ],
)
def test_malformed_rle_is_rejected(encoded, message):
    with pytest.raises(MaskDecodeError, match=message):
        decode_rle(encoded, (10, 60))
