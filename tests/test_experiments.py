"""Experiment presets: each composes, sweeps in one multirun, and gives every job its own folder."""

import itertools
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from tests.conftest import CONF_DIR

PRESETS = sorted(p.stem for p in (Path(CONF_DIR) / "experiment").glob("*.yaml"))


def jobs(name: str) -> list[list[str]]:
    """The override lists of the preset's sweep grid, as Hydra's basic sweeper expands them."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("config", overrides=[f"+experiment={name}"], return_hydra_config=True)
    assert cfg.hydra.mode.name == "MULTIRUN"
    params = cfg.hydra.sweeper.params
    axes = [
        [f"{key}={value}" for value in str(values).split(",")] for key, values in params.items()
    ]
    return [list(combo) for combo in itertools.product(*axes)]


@pytest.mark.parametrize("name", PRESETS)
def test_every_job_of_a_preset_composes_with_its_own_run_name(name):
    names = []
    for overrides in jobs(name):
        with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
            cfg = compose("config", overrides=[f"+experiment={name}", *overrides])
        OmegaConf.to_container(cfg, resolve=True)
        names.append(cfg.run_name)
    assert len(names) == len(set(names))


def test_the_paper_grids():
    assert len(jobs("direct_guidance")) == 20
    assert [j[0] for j in jobs("direct_interval")] == [
        f"method.interval={k}" for k in (2, 5, 10, 24, 49)
    ]
    assert {j[0] for j in jobs("reconstruction")} >= {
        "method=ddim",
        "method=nti",
        "method=npi",
        "method=direct",
    }
