"""Shared fixtures: the tiny model (built once per session) and method configs."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from piebench.methods import Batch
from piebench.models.loading import load_model
from piebench.models.sd import SDModel, images_to_tensor
from piebench.resources import config_dir

CONF_DIR = config_dir()


def compose_config(*overrides: str) -> DictConfig:
    """The run config as the CLI would compose it."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        return compose(config_name="config", overrides=list(overrides))


@pytest.fixture(autouse=True)
def _restore_root_logging():
    """Commands run in-process (Hydra's job logging, ``basicConfig``) attach handlers bound to
    the test's captured streams; left behind, they write "--- Logging error ---" tracebacks into
    later tests' output once those streams are closed."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def tiny_model() -> SDModel:
    return load_model(compose_config("model=tiny").model)


def method_config(name: str, steps: int = 6, **overrides: object) -> DictConfig:
    cfg = compose_config(f"method={name}", "model=tiny", f"method.steps={steps}")
    for key, value in overrides.items():
        node = cfg.method
        *path, last = key.split(".")
        for part in path:
            node = node[part]
        node[last] = value
    return cfg.method


def make_batch(n: int, size: int = 64, same_prompts: bool = False, seed: int = 0) -> Batch:
    """n random images with prompt pairs that exercise refine alignment and local blend."""
    rng = np.random.default_rng(seed)
    sources = ["a photo of a cat on a sofa", "a dog running in the park", "a red car on the road"]
    targets = [
        "a photo of a black cat on a sofa",
        "a cat running in the park",
        "a blue car on the road",
    ]
    words = [("cat", "cat"), ("dog", "cat"), ("red", "blue")]
    sources, targets, words = (x * (n // 3 + 1) for x in (sources, targets, words))
    return Batch(
        ids=[f"{i:012d}" for i in range(n)],
        images=images_to_tensor(
            [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]
        ),
        source_prompts=sources[:n],
        target_prompts=(sources if same_prompts else targets)[:n],
        blended_words=[None] * n if same_prompts else words[:n],
        generators=[torch.Generator().manual_seed(1234) for _ in range(n)],
        masks=torch.from_numpy(np.stack([box_mask(rng) for _ in range(n)])),
    )


def box_mask(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """A (size, size) uint8 PIE-Bench-style mask: one random box of 1s, the border forced to 1."""
    mask = np.zeros((size, size), dtype=np.uint8)
    top, left = rng.integers(size // 8, size // 2, 2)
    height, width = rng.integers(size // 8, size // 3, 2)
    mask[top : top + height, left : left + width] = 1
    mask[[0, -1], :] = 1
    mask[:, [0, -1]] = 1
    return mask
