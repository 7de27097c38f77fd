import json

import numpy as np
import pytest
from PIL import Image

from piebench.data.errors import BenchmarkError, SampleError
from piebench.data.images import prepare_image
from piebench.data.pie_bench import load_benchmark, parse_blended_word
from piebench.data.rle import encode_rle


def entry(image_path, type_id="1", mask=None, **extra):
    mask = (
        mask
        if mask is not None
        else encode_rle(np.pad(np.ones((100, 100)), ((10, 402), (10, 402))))
    )
    return {
        "image_path": image_path,
        "original_prompt": "a [cat] on a sofa",
        "editing_prompt": "a [dog] on a sofa",
        "editing_instruction": "make it a dog",
        "editing_type_id": type_id,
        "blended_word": "cat dog",
        "mask": mask,
        **extra,
    }


@pytest.fixture
def bench(tmp_path):
    images = tmp_path / "annotation_images" / "1_change_object"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (300, 451, 3), dtype=np.uint8)).save(images / "a.jpg")
    Image.fromarray(rng.integers(0, 256, (200, 120), dtype=np.uint8)).save(images / "gray.png")
    Image.fromarray(rng.integers(0, 256, (64, 64, 4), dtype=np.uint8), "RGBA").save(
        images / "rgba.png"
    )
    mapping = {
        "000000000003": entry("1_change_object/a.jpg", "1"),
        "000000000001": entry("1_change_object/gray.png", "2"),
        "000000000002": entry("1_change_object/rgba.png", "9"),
        "000000000004": entry("1_change_object/missing.jpg", "1"),
        "000000000005": entry("1_change_object/a.jpg", "1", mask=[0, 5, 7]),
        "000000000006": entry("1_change_object/a.jpg", "3", mask=[-(512 * 512) - 3, 2]),
        "000000000007": {"image_path": "x.jpg"},
    }
    (tmp_path / "mapping_file.json").write_text(json.dumps(mapping))
    return tmp_path


def test_fields_brackets_and_order(bench):
    data = load_benchmark(bench)
    ids = [s.id for s in data.samples]
    assert ids == sorted(ids)
    sample = data.samples[0]
    assert sample.source_prompt == "a cat on a sofa" and sample.target_prompt == "a dog on a sofa"
    assert sample.original_prompt == "a [cat] on a sofa" and sample.blended_words == ("cat", "dog")
    invalid = [str(e).split(":")[0] for e in data.invalid]
    assert invalid == ["sample 000000000005", "sample 000000000006", "sample 000000000007"]
    assert "missing field" in str(data.invalid[2])


def test_selection_by_type_ids_and_limit(bench):
    assert {s.edit_type for s in load_benchmark(bench, types=[1, "2"]).samples} == {1, 2}
    assert [s.id for s in load_benchmark(bench, ids=["000000000002"]).samples] == ["000000000002"]
    assert len(load_benchmark(bench, limit=2).samples) == 2
    assert load_benchmark(bench, types=[2]).invalid == []  # no invalid entry has type 2
    last = load_benchmark(bench, limit=6)
    assert len(last.samples) == 4 and len(last.invalid) == 2  # invalid entries count toward limit
    with pytest.raises(BenchmarkError, match="valid types: 0 \\(random\\)"):
        load_benchmark(bench, types=[12])
    with pytest.raises(BenchmarkError, match="ids not in"):
        load_benchmark(bench, ids=["nope"])


def test_missing_mapping_file_names_the_folder(tmp_path):
    with pytest.raises(BenchmarkError, match="mapping_file.json"):
        load_benchmark(tmp_path)
    with pytest.raises(BenchmarkError, match=r"data\.root=.*/nowhere does not exist"):
        load_benchmark(tmp_path / "nowhere")


def test_images_are_converted_and_cropped_like_the_reference(bench):
    by_id = {s.id: s for s in load_benchmark(bench).samples}
    for sample in by_id.values():
        if sample.id in ("000000000004",):
            continue
        image = sample.load_image(512)
        assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    # the reference: centre square with offset (451 - 300) // 2 = 75, then PIL resize
    raw = np.asarray(Image.open(bench / "annotation_images/1_change_object/a.jpg"))
    expected = np.asarray(Image.fromarray(raw[:, 75:375]).resize((512, 512)))
    np.testing.assert_array_equal(by_id["000000000003"].load_image(512), expected)
    gray = by_id["000000000001"].load_image(64)
    assert np.array_equal(gray[..., 0], gray[..., 1])
    assert prepare_image(Image.new("RGBA", (10, 20)), 8).shape == (8, 8, 3)


def test_bad_samples_raise_errors_naming_sample_and_field(bench):
    data = load_benchmark(bench)
    by_id = {s.id: s for s in data.samples}
    with pytest.raises(SampleError, match="sample 000000000004: image_path: image file not found"):
        by_id["000000000004"].load_image()
    # malformed masks are caught when the benchmark is loaded, before any editing
    invalid = {err.sample_id: str(err) for err in data.invalid}
    assert "000000000005" not in by_id and "000000000006" not in by_id
    assert "mask: mask RLE has odd length" in invalid["000000000005"]
    assert "mask: mask RLE run starts at" in invalid["000000000006"]
    mask = by_id["000000000003"].mask()
    assert mask.shape == (512, 512) and mask[0].all() and mask[20, 20] == 1 and mask[300, 300] == 0
    assert by_id["000000000003"].mask(border=False)[0].sum() == 0


def test_unreadable_image(bench):
    (bench / "annotation_images/1_change_object/a.jpg").write_bytes(b"not an image")
    sample = load_benchmark(bench, ids=["000000000003"]).samples[0]
    with pytest.raises(SampleError, match="unreadable image"):
        sample.load_image()


@pytest.mark.parametrize(
    "text, words, warned",
    [
        ("", None, False),
        ("cat dog", ("cat", "dog"), False),
        ("cat black dog", ("cat", "black"), True),  # the reference uses items 0 and 1
        ("cat", ("cat", "cat"), True),
    ],
)
def test_blended_word_is_used_as_the_reference_uses_it(text, words, warned):
    used, warnings = parse_blended_word(text)
    assert used == words and bool(warnings) == warned
    if warned:
        assert repr(text) in warnings[0]


def test_long_blended_word_keeps_the_sample_with_a_warning(tmp_path):
    (tmp_path / "annotation_images").mkdir()
    mapping = {"000000000001": entry("x.jpg", blended_word="red car blue")}
    (tmp_path / "mapping_file.json").write_text(json.dumps(mapping))
    data = load_benchmark(tmp_path)
    assert not data.invalid and data.samples[0].blended_words == ("red", "car")
    assert "used the first two" in data.samples[0].warnings[0]


@pytest.mark.parametrize(
    "field, value", [("original_prompt", 3), ("editing_prompt", ""), ("image_path", None)]
)
def test_fields_are_validated_when_loading(tmp_path, field, value):
    (tmp_path / "annotation_images").mkdir()
    mapping = {"000000000001": {**entry("x.jpg"), field: value}}
    (tmp_path / "mapping_file.json").write_text(json.dumps(mapping))
    data = load_benchmark(tmp_path)
    assert not data.samples and f"{field}: expected a non-empty string" in str(data.invalid[0])


def test_image_paths_outside_the_tree_or_shared_are_refused(tmp_path):
    """The edit is saved under the sample's image path inside the run folder: a path that
    leaves it, or one a second sample shares, would overwrite other files."""
    (tmp_path / "annotation_images").mkdir()
    mapping = {
        "000000000001": entry("1_change_object/a.jpg"),
        "000000000002": entry("1_change_object/a.jpg"),
        "000000000003": entry("../../other_run/annotation_images/b.jpg"),
        "000000000004": entry("/etc/c.jpg"),
        "000000000005": entry("1_change_object/d.jpg"),
    }
    (tmp_path / "mapping_file.json").write_text(json.dumps(mapping))
    data = load_benchmark(tmp_path)
    assert [s.id for s in data.samples] == ["000000000001", "000000000005"]
    errors = {e.sample_id: str(e) for e in data.invalid}
    assert "also sample 000000000001's" in errors["000000000002"]
    assert "without '..'" in errors["000000000003"] and "without '..'" in errors["000000000004"]
    only = load_benchmark(tmp_path, ids=["000000000002"])  # refused whatever the selection
    assert not only.samples and only.invalid[0].sample_id == "000000000002"


def test_one_id_or_type_without_brackets_is_one_value(bench):
    assert [s.id for s in load_benchmark(bench, ids="000000000002").samples] == ["000000000002"]
    assert {s.edit_type for s in load_benchmark(bench, types="9").samples} == {9}
    with pytest.raises(BenchmarkError, match="unknown edit type 'abc'"):
        load_benchmark(bench, types="abc")
