"""The bundled sample benchmark must load cleanly through the real PIE-Bench loader and stay in
sync with the script that builds it, so smoke runs and other tests can rely on it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from piebench.data.pie_bench import IMAGE_DIR, MAPPING_FILE, Sample, load_benchmark
from piebench.data.sample_benchmark import EDITS, PHOTOS, SAMPLE_ROOT, build, main, photo_image

STYLE = 9
BRACKETED = re.compile(r"\[([^\[\]]+)\]")


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    benchmark = load_benchmark(SAMPLE_ROOT)
    assert benchmark.invalid == []
    return benchmark.samples


def test_sample_size_and_edit_types(samples: list[Sample]) -> None:
    assert 8 <= len(samples) <= 12
    assert len({s.edit_type for s in samples}) >= 6
    assert len({s.id for s in samples}) == len(samples)
    assert all(re.fullmatch(r"\d{12}", s.id) and s.id[0] == str(s.edit_type) for s in samples)


def test_images_load_prepared(samples: list[Sample]) -> None:
    for sample in samples:
        image = sample.load_image(512)
        assert image.shape == (512, 512, 3), sample.id
        assert image.dtype == np.uint8, sample.id


def test_sample_exercises_crop_and_grayscale_paths(samples: list[Sample]) -> None:
    sizes, modes = set(), set()
    for sample in samples:
        with Image.open(sample.image_file) as image:
            sizes.add(image.width == image.height)
            modes.add(image.mode)
    assert sizes == {True, False}
    assert {"L", "RGB"} <= modes


@pytest.mark.parametrize("border", [True, False])
def test_masks_decode(samples: list[Sample], border: bool) -> None:
    for sample in samples:
        mask = sample.mask(border=border)
        assert mask.shape == (512, 512), sample.id
        assert mask.dtype == np.uint8, sample.id
        inner = sample.mask(border=False)
        assert inner.any(), sample.id
        if sample.edit_type != STYLE:
            assert not inner.all(), sample.id


def test_prompts_mark_a_real_change(samples: list[Sample]) -> None:
    for sample in samples:
        source = BRACKETED.findall(sample.original_prompt)
        target = BRACKETED.findall(sample.editing_prompt)
        assert source and target, sample.id
        assert source != target, sample.id
        assert sample.source_prompt != sample.target_prompt, sample.id
        assert "[" not in sample.source_prompt + sample.target_prompt, sample.id


def test_blended_words_are_prompt_words(samples: list[Sample]) -> None:
    for sample in samples:
        if sample.blended_words is None:
            assert sample.edit_type == STYLE, sample.id
            continue
        source_word, target_word = sample.blended_words
        assert source_word in sample.source_prompt.split(), sample.id
        assert target_word in sample.target_prompt.split(), sample.id


def test_committed_images_are_the_named_photos(samples: list[Sample]) -> None:
    by_id = {s.id: s for s in samples}
    mapping = json.loads((SAMPLE_ROOT / MAPPING_FILE).read_text(encoding="utf-8"))
    assert len(EDITS) == len(mapping)
    for index, edit in enumerate(EDITS):
        sample_id = f"{edit.edit_type}{index:011d}"
        assert edit.photo in PHOTOS
        with Image.open(by_id[sample_id].image_file) as stored:
            stored_pixels = np.asarray(stored, dtype=np.float64)
        original = np.asarray(photo_image(edit.photo), dtype=np.float64)
        assert stored_pixels.shape == original.shape, sample_id
        assert np.abs(stored_pixels - original).mean() < 4.0, sample_id


def test_build_reproduces_committed_sample(tmp_path: Path) -> None:
    build(tmp_path)
    built = json.loads((tmp_path / MAPPING_FILE).read_text(encoding="utf-8"))
    committed = json.loads((SAMPLE_ROOT / MAPPING_FILE).read_text(encoding="utf-8"))
    assert built == committed
    assert (tmp_path / "README.md").read_text() == (SAMPLE_ROOT / "README.md").read_text()
    built_images = sorted(p.relative_to(tmp_path) for p in (tmp_path / IMAGE_DIR).rglob("*.jpg"))
    committed_images = sorted(
        p.relative_to(SAMPLE_ROOT) for p in (SAMPLE_ROOT / IMAGE_DIR).rglob("*.jpg")
    )
    assert built_images == committed_images


def test_sample_folder_is_small() -> None:
    total = sum(p.stat().st_size for p in SAMPLE_ROOT.rglob("*") if p.is_file())
    assert total < 1_000_000


def test_copies_repeat_the_edits_under_new_ids(tmp_path: Path) -> None:
    """``--copies 2``: twenty loadable samples, enough to time batches beyond ten."""
    main([str(tmp_path), "--copies", "2"])
    benchmark = load_benchmark(tmp_path)
    assert benchmark.invalid == [] and len(benchmark.samples) == 2 * len(EDITS)
    by_id = {s.id: s for s in benchmark.samples}
    first, copy = by_id["000000000000"], by_id[f"0{len(EDITS):011d}"]
    assert copy.editing_prompt == first.editing_prompt and copy.mask_rle == first.mask_rle
    np.testing.assert_array_equal(copy.load_image(64), first.load_image(64))
    assert "(20 edits)" in (tmp_path / "README.md").read_text()
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--copies", "0"])
