"""A tiny PIE-Bench (3 samples, 512x512) with an edited run in our layout and in the reference's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from piebench.data.rle import encode_rle
from tests.metrics.tiny_networks import tiny_metrics_cfg

SAMPLES = {  # id: (image_path, edit type, mask rows covered (None = whole image))
    "000000000000": ("0_random_140/000000000000.jpg", 0, (100, 300)),
    "111000000000": ("1_change_object_80/1_artificial/1_animal/111000000000.jpg", 1, (200, 512)),
    "922000000000": ("9_change_style_80/2_natural/2_indoor/922000000000.jpg", 9, None),
}


def smooth_image(seed: int, size: int = 512) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (size // 32, size // 32, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC))


def edit_of(source: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(source.astype(int) + rng.integers(-30, 31, source.shape), 0, 255).astype(
        np.uint8
    )


@pytest.fixture(scope="session")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pie-bench")
    mapping = {}
    for seed, (sample_id, (image_path, edit_type, rows)) in enumerate(SAMPLES.items()):
        mask = np.ones((512, 512), np.uint8)
        if rows is not None:
            mask[:] = 0
            mask[rows[0] : rows[1], 50:400] = 1
        (root / "annotation_images" / image_path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(smooth_image(seed)).save(
            root / "annotation_images" / image_path, quality=95
        )
        mapping[sample_id] = {
            "image_path": image_path,
            "original_prompt": "a photo of a [cat] sitting",
            "editing_prompt": "a photo of a [dog] sitting",
            "editing_instruction": "make it a dog",
            "editing_type_id": str(edit_type),
            "blended_word": "cat dog",
            "mask": encode_rle(mask),
        }
    (root / "mapping_file.json").write_text(json.dumps(mapping))
    return root


def write_edits(bench: Path, run: Path, strip: bool) -> None:
    """Edited images of every sample; ``strip`` = the reference's 4-panel layout."""
    for seed, (image_path, _, _) in enumerate(v for v in SAMPLES.values()):
        source = np.asarray(Image.open(bench / "annotation_images" / image_path))
        edited = edit_of(source, 100 + seed)
        if strip:
            edited = np.concatenate([np.full_like(source, 255), source, source, edited], axis=1)
        out = run / "annotation_images" / image_path
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(edited).save(out, format="PNG" if strip else "JPEG", quality=75)


@pytest.fixture()
def our_run(bench: Path, tmp_path: Path) -> Path:
    """Our layout: edits + records (one failed sample) + manifest."""
    run = tmp_path / "outputs" / "direct"
    write_edits(bench, run, strip=False)
    records = []
    for number, (sample_id, (image_path, edit_type, _)) in enumerate(SAMPLES.items()):
        failed = number == 2
        records.append(
            {
                "id": sample_id,
                "image_path": image_path,
                "edit_type": edit_type,
                "method": "direct",
                "status": "failed" if failed else "ok",
                "error": "CUDA OOM" if failed else None,
                "inversion_s": 1.0 + number,
                "edit_s": 2.0,
                "total_s": 3.0 + number,
                "peak_mem_mb": 100.0,
                "batch_size": 1,
            }
        )
    (run / "records.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    manifest = {
        "method": "direct",
        "run_name": "direct",
        "config": {"model": {"id": "tiny-sd"}},
        "finished": "2026-12-03T10:00:00+00:00",
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


@pytest.fixture()
def reference_run(bench: Path, tmp_path: Path) -> Path:
    run = tmp_path / "output" / "directinversion+p2p"
    write_edits(bench, run, strip=True)
    return run


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test from its own folder: scores of a reference-tree folder go to ``scores_dir``
    (default ``outputs/scores``, relative to the working directory), never into the repository."""
    monkeypatch.chdir(tmp_path)


def listing(folder: Path) -> list[tuple[str, int]]:
    """Every path under ``folder`` with its size (0 for folders): what was added or rewritten."""
    return sorted(
        (str(path.relative_to(folder)), path.stat().st_size if path.is_file() else 0)
        for path in folder.rglob("*")
    )


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``chmod -R a-w folder`` for the block, restored after so ``tmp_path`` can be removed.
    Root writes anyway: tests compare ``listing`` before and after rather than expect errors."""
    modes = {path: path.stat().st_mode for path in [folder, *folder.rglob("*")]}
    for path, mode in modes.items():
        path.chmod(mode & ~0o222)
    try:
        yield
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


@pytest.fixture(scope="session")
def tiny_cfg(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return tiny_metrics_cfg(tmp_path_factory.mktemp("tiny-nets"))
