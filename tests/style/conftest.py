"""A synthetic style folder (smooth PIL images of several sizes), the tiny model and configs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from omegaconf import DictConfig
from PIL import Image

from piebench.models.loading import load_model
from piebench.models.sd import SDModel
from piebench.run_lock import try_lock
from piebench.style.config import load_config

SIZES = [(80, 64), (64, 96), (70, 70), (64, 64)]


def smooth_image(seed: int, size: tuple[int, int]) -> Image.Image:
    """Low-frequency colour noise: different per seed, like a painting's colour fields."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC)


def write_style_folder(folder: Path, count: int = len(SIZES)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, size in enumerate(SIZES[:count]):
        smooth_image(i, size).save(folder / f"style_{i}.{'png' if i % 2 else 'jpg'}")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture()
def style_folder(tmp_path: Path) -> Path:
    return write_style_folder(tmp_path / "watercolour")


@pytest.fixture()
def prompts_file(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.txt"
    path.write_text("a cat on a chair\n\na house by a lake\n")
    return path


@pytest.fixture()
def make_cfg(tmp_path: Path, style_folder: Path, prompts_file: Path) -> Callable[..., DictConfig]:
    """The style config on the tiny model, small and fast; extra overrides win."""

    def make(*overrides: str) -> DictConfig:
        return load_config(
            [
                "model=tiny",
                "model.device=cpu",
                f"output_dir={tmp_path / 'outputs'}",
                f"style.images={style_folder}",
                f"style.prompts={prompts_file}",
                "style.guidance=[1,4]",
                "style.images_per_prompt=2",
                "style.sample_steps=3",
                "progress=false",
                *overrides,
            ]
        )

    return make


@pytest.fixture(scope="session")
def tiny_model() -> SDModel:
    return load_model(load_config(["model=tiny", "model.device=cpu"]).model)


@contextmanager
def lock_held(path: Path) -> Iterator[None]:
    """Hold the lock at ``path`` as another process's step would, for the block."""
    held = try_lock(path)
    assert held is not None
    with held:
        yield
