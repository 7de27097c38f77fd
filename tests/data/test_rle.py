import numpy as np
import pytest

from piebench.data.rle import MaskDecodeError, decode_rle, encode_rle, rle_quirks


def loop_decode(encoded, shape=(512, 512), border=True):
    """A straightforward per-pixel decode, as the reference's loop reads runs: a negative index
    counts from the end (numpy indexing), a run past the end or of length <= 0 sets nothing."""
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
        ([-601, 5], "starts at -601, before the 10x60 grid"),
        ([0.5, 2], "non-integer"),
    ],
)
def test_rle_the_reference_cannot_decode_is_rejected(encoded, message):
    with pytest.raises(MaskDecodeError, match=message):
        decode_rle(encoded, (10, 60))


@pytest.mark.parametrize(
    "encoded, quirk",
    [
        ([-1, 5, 20, 3], "run 0 starts at -1: counted from the end"),
        ([-30, 10], "run 0 starts at -30"),
        ([-5, 100], "run 0 starts at -5"),
        ([-600, 4], "run 0 starts at -600"),
        ([0, -5, 7, 2], "run 0 has length -5: it sets nothing"),
        ([3, 2, 0, 0], "run 1 has length 0"),
        ([600, 2, 10, 3], "run 0 starts at 600, past the grid: it sets nothing"),
    ],
)
def test_odd_runs_decode_as_the_reference_loop_and_are_named(encoded, quirk):
    """Runs PIE-Bench's encoder never writes decode as the reference's loop reads them (it scores
    such samples rather than failing them), and each is named for the sample's warnings."""
    shape = (10, 60)
    for border in (True, False):
        np.testing.assert_array_equal(
            decode_rle(encoded, shape, border), loop_decode(encoded, shape, border)
        )
    assert decode_rle(encoded, shape, border=False).sum() > 0 or encoded[1] <= 0
    assert any(quirk in note for note in rle_quirks(encoded, shape)), rle_quirks(encoded, shape)
    assert rle_quirks([0, 5, 590, 30], shape) == []  # a clipped tail is the usual case: no note
