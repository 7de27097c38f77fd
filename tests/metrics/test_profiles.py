"""Metric profiles: the YAML groups compose to the built-in eras, and names cannot lie."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from piebench.metrics.profiles import BUILTIN_PROFILES, MetricProfile, resolve_profile
from piebench.scoring.cli import load_config

CUSTOM = {
    "profile": "p",
    "mode": "parity",
    "ssim": {"crop_border": True, "clamp_variance": False},
    "dino": {"antialias": False},
}


def composed(*overrides: str) -> dict:
    return OmegaConf.to_container(load_config(list(overrides)).metrics, resolve=True)


@pytest.mark.parametrize("name", sorted(BUILTIN_PROFILES))
def test_each_metrics_group_is_its_builtin_profile(name):
    assert resolve_profile(composed(f"metrics={name}")) == BUILTIN_PROFILES[name]


def test_default_is_the_published_tables_era():
    assert resolve_profile(composed()) == MetricProfile("parity", "parity", True, False, False)
    assert resolve_profile(None) == BUILTIN_PROFILES["parity"]


def test_clean_keeps_its_settings_and_inherits_the_rest_from_parity():
    clean, parity = composed("metrics=clean"), composed()
    assert clean["mode"] == "clean" and clean["dino"]["antialias"] is True
    assert clean["ssim"] == {"crop_border": False, "clamp_variance": True}
    shared = ("names", "batch_size", "device", "clip", "lpips", "fid")
    assert {k: clean[k] for k in shared} == {k: parity[k] for k in shared}
    assert {k: v for k, v in clean["dino"].items() if k != "antialias"} == {
        k: v for k, v in parity["dino"].items() if k != "antialias"
    }


def test_a_partial_config_takes_the_named_profile_settings():
    assert resolve_profile({"mode": "clean"}) == BUILTIN_PROFILES["clean"]
    assert resolve_profile({"profile": "parity_current"}) == BUILTIN_PROFILES["parity_current"]


def test_overriding_a_builtin_profile_setting_is_an_error_naming_the_way_out():
    with pytest.raises(ValueError, match=r"metrics\.dino\.antialias=true contradicts profile"):
        resolve_profile(composed("metrics.dino.antialias=true"))
    with pytest.raises(ValueError, match=r"metrics\.profile=<name>"):
        resolve_profile(composed("metrics=parity_current", "metrics.ssim.crop_border=true"))


def test_a_named_custom_profile_is_accepted_and_recorded():
    profile = resolve_profile(composed("metrics.profile=mixed", "metrics.dino.antialias=true"))
    assert profile == MetricProfile("mixed", "parity", True, False, dino_antialias=True)
    assert profile.header() == (
        "metric profile: mixed (mode=parity, ssim.crop_border=true, ssim.clamp_variance=false, "
        "dino.antialias=true)"
    )


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (dict(CUSTOM, dino={}), r"not built in: set metrics\.dino\.antialias"),
        ({"ssim": {"crop_border": "yes"}}, "must be true or false"),
        ({"profile": "../up"}, "letters, digits"),
        (dict(CUSTOM, mode="fancy"), "unknown metrics.mode"),
    ],
)
def test_invalid_profiles_fail_early(cfg, message):
    with pytest.raises(ValueError, match=message):
        resolve_profile(cfg)
