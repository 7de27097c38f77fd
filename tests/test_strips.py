"""``image_format=strip``: each sample is saved as the reference's 4-panel JPEG strip
[prompts | source | reconstruction | edit], and everything that reads edits crops the last
panel (the byte-level claim against the reference's own strips: tests/parity/test_strip_storage)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from piebench.atomic_files import write_image_atomic
from piebench.data.pie_bench import SAMPLE_ROOT, load_benchmark
from piebench.methods import METHODS, Batch
from piebench.models.loading import load_model
from piebench.runner import Runner
from piebench.scoring.runs import read_edited
from tests.conftest import compose_config

BASE = ["model=tiny", "method.steps=2", "data.limit=2", "progress=false", "data.workers=0"]


def images(run_dir):
    files = sorted((run_dir / "annotation_images").rglob("*.*"))
    return [np.asarray(Image.open(f).convert("RGB")) for f in files]


def jpeg(image, tmp_path):
    """``image`` through the runner's JPEG writer and back."""
    path = tmp_path / "alone.jpg"
    write_image_atomic(image, path, 75)
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.mark.parametrize("method", ["ddim", "bld"])
def test_strips_hold_source_reconstruction_and_edit(tmp_path, method):
    """Away from the panel edges (where JPEG mixes chroma of neighbours) each panel decodes as
    its image alone would: the prepared source, the edit pass's source row (a black panel for
    BLD, as the reference saves it) and the edit that ``image_format=png`` stores."""

    def run(*extra):
        cfg = compose_config(f"method={method}", *BASE, f"output_dir={tmp_path}", *extra)
        return Runner(cfg).run().run_dir

    strip_dir = run("image_format=strip", "run_name=strip")
    strips = images(strip_dir)
    edits = images(run("image_format=png", "run_name=png"))
    side = edits[0].shape[0]
    if method == "bld":
        rebuilt = [np.zeros_like(e) for e in edits]
    else:
        rebuilt = images(run("image_format=png", "run_name=recon", "task=reconstruct"))
    samples = load_benchmark(SAMPLE_ROOT, limit=2).samples
    fit = compose_config(f"method={method}").method.image_fit  # BLD stretches, DDIM crops
    assert len(strips) == 2
    for strip, edit, recon, sample in zip(strips, edits, rebuilt, samples):
        assert strip.shape == (side, 4 * side, 3)
        text, source, beside, edited = np.split(strip, 4, axis=1)
        assert text.mean() > 200  # white, the prompts in black
        inner = slice(1, -1)
        np.testing.assert_array_equal(
            source[:, inner], jpeg(sample.load_image(side, fit), tmp_path)[:, inner]
        )
        np.testing.assert_array_equal(edited[:, 1:], jpeg(edit, tmp_path)[:, 1:])
        assert np.abs(beside[:, inner].astype(int) - jpeg(recon, tmp_path)[:, inner]).max() <= 2
        stored = strip_dir / "annotation_images" / sample.image_path
        np.testing.assert_array_equal(read_edited(stored, (side, side)), edited)
    if method == "ddim":  # the source row, not another copy of the edit
        assert np.abs(np.split(strips[0], 4, axis=1)[2].astype(int) - edits[0]).mean() > 1


def test_edict_strips_show_the_decoded_z0_beside_the_edit(tmp_path):
    """EDICT inverts exactly, so the reference's reconstruction panel is its z_0 decoded
    (parity: tests/parity/test_edict_parity); the edit panel is the edit ``png`` stores."""

    def run(*extra):
        cfg = compose_config("method=edict", *BASE, f"output_dir={tmp_path}", *extra)
        return Runner(cfg).run()

    strips = run("image_format=strip", "run_name=strip")
    assert (strips.ok, strips.failed) == (2, 0)
    edits = images(run("image_format=png", "run_name=png").run_dir)
    cfg = compose_config("method=edict", *BASE)
    method = METHODS.get("edict")(load_model(cfg.model), cfg.method)
    samples = load_benchmark(SAMPLE_ROOT, limit=2).samples
    side = edits[0].shape[0]
    sources = [s.load_image(side, cfg.method.image_fit) for s in samples]
    batch = Batch.from_samples(samples, sources, seed=1234)
    decoded_z0 = method.decode(method.encode(batch), batch)
    for strip, edit, z0 in zip(images(strips.run_dir), edits, decoded_z0):
        _, _, beside, edited = np.split(strip, 4, axis=1)
        inner = slice(1, -1)
        np.testing.assert_array_equal(edited[:, 1:], jpeg(edit, tmp_path)[:, 1:])
        np.testing.assert_array_equal(beside[:, inner], jpeg(z0, tmp_path)[:, inner])
