"""Configs compose for every option, and registry keys equal config option names."""

from dataclasses import fields
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from piebench.config_schema import METHOD_SCHEMAS, ConfigError, validate
from piebench.methods import METHODS
from tests.conftest import CONF_DIR, compose_config


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


def test_method_registry_keys_equal_config_names():
    assert options("method") == METHODS.names()
    for name in options("method"):
        assert compose_config(f"method={name}").method.name == name


@pytest.mark.parametrize("method", options("method"))
@pytest.mark.parametrize("model", options("model"))
@pytest.mark.parametrize("data", options("data"))
def test_every_option_composes(method, model, data):
    cfg = compose_config(f"method={method}", f"model={model}", f"data={data}", "data.root=/x")
    OmegaConf.to_container(cfg, resolve=True)
    assert cfg.run_name == method


def test_defaults_are_the_reference_protocol():
    cfg = compose_config()
    assert cfg.method.name == "direct" and cfg.model.path == "CompVis/stable-diffusion-v1-4"
    assert (cfg.method.steps, cfg.method.guidance, cfg.seed, cfg.data.resolution) == (
        50,
        7.5,
        1234,
        512,
    )
    editor = cfg.method.editor
    assert (editor.cross_replace_steps, editor.self_replace_steps, editor.self_max_res) == (
        0.4,
        0.6,
        32,
    )
    assert (editor.blend_threshold, editor.blend_start, editor.reweight, editor.controller) == (
        0.3,
        0.2,
        2.0,
        "refine",
    )
    assert cfg.jpeg_quality == 75 and cfg.image_format == "strip" and cfg.data.mask_border


def test_method_defaults_are_their_reference_scripts_defaults():
    """run_editing_edict.py edits with edict+p2p unless told otherwise; run_editing_pix2pix_zero.py
    captions every source image with BLIP."""
    assert compose_config("method=edict").method.p2p is True
    assert compose_config("method=pix2pix_zero").method.caption == "blip"


def test_each_method_loads_source_files_as_its_reference_script():
    """The P2P family's load_512 crops the centre; BLD and pix2pix-zero stretch the whole file
    (bilinear, Lanczos); EDICT crops a rounded float box (``piebench.data.images``)."""
    fits = {name: compose_config(f"method={name}").method.image_fit for name in METHODS}
    assert fits == {
        "ddim": "centre_crop",
        "direct": "centre_crop",
        "npi": "centre_crop",
        "nti": "centre_crop",
        "edict": "centre_crop_rounded",
        "bld": "stretch_bilinear",
        "pix2pix_zero": "stretch_lanczos",
    }


def test_tiny_model_shrinks_resolution_and_steps():
    cfg = compose_config("model=tiny")
    assert cfg.data.resolution == 64 and cfg.method.steps == 10
    assert compose_config("model=tiny", "method.steps=3").method.steps == 3


def test_typo_fails_at_compose_time():
    with pytest.raises(Exception, match="stpes"):
        compose_config("method.stpes=3")


@pytest.mark.parametrize(
    "override, message",
    [
        ("method.steps=abc", "method.steps"),
        ("batch_size=0", "batch_size=0: must be >= 1"),
        ("data.resolution=100", "data.resolution=100: must be a multiple of 8"),
        ("image_format=gif", "valid values jpg, png"),
        ("method.editor.cross_replace_steps=lots", "method.editor.cross_replace_steps"),
        ("data.limit=some", "data.limit"),
        ("model.attention=flash", "valid values sdpa, explicit"),
        ("method.editor.controller=swap", "valid values refine, replace"),
        ("method.interval=abc", "method.interval"),
        ("method.interval=0", "method.interval=0: must be >= 1"),
        ("method.offset_scale=abc", "method.offset_scale"),
        ("method.add_target=maybe", "method.add_target"),
        ("method.steps_offset=2", "method.steps_offset=2"),
        ("jpeg_quality=0", "jpeg_quality=0"),
        ("model.prediction_type=x0", "valid values epsilon, v_prediction"),
        ("model.compile=cudagraphs", "valid values false, true, reduce-overhead, max-autotune"),
        ("data=pie_bench", "data.root must be set"),
        ("data.limit=-1", "data.limit=-1: must be >= 0"),
        ("method.guidance=nan", "method.guidance=nan: must be a finite number"),
        ("method.guidance=inf", "method.guidance=inf: must be a finite number"),
        ("run_name=a/../../c", "run_name='a/../../c': must name a folder inside output_dir"),
        ("run_name=''", "run_name='': must name a folder inside output_dir"),
        ("run_name=/tmp/x", "run_name='/tmp/x': must name a folder inside output_dir"),
    ],
)
def test_wrong_types_and_choices_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        validate(compose_config("model=tiny", override))


@pytest.mark.parametrize("method", options("method"))
@pytest.mark.parametrize("model", options("model"))
def test_every_shipped_option_passes_validation(method, model):
    validate(
        compose_config(f"method={method}", f"model={model}", "data.types=[0,1]", "data.limit=3")
    )


@pytest.mark.parametrize(
    "method, override, message",
    [
        ("nti", "method.inner_steps=lots", "method.inner_steps"),
        ("nti", "method.single_branch=maybe", "method.single_branch"),
        ("npi", "method.npi_interp=2", "method.npi_interp=2.0: must be in"),
        ("edict", "method.dtype=float16", "valid values float32, float64"),
        ("ddim", "method.text_cleaning=nfc", "valid values ftfy, basic, none"),
    ],
)
def test_method_keys_are_typed(method, override, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        validate(compose_config("model=tiny", f"method={method}", override))


@pytest.mark.parametrize("method", options("method"))
def test_every_method_key_has_a_schema_field(method):
    """A new method key without a typed schema field would escape validation."""
    node = compose_config(f"method={method}").method
    typed = {f.name for f in fields(METHOD_SCHEMAS[method])} | {"editor"}
    assert set(node.keys()) <= typed, set(node.keys()) - typed
