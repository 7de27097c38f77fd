import json
import logging

import pytest
import torch

from piebench.config_schema import ConfigError
from piebench.device import resolve_device
from piebench.methods import METHODS
from piebench.models import loading
from piebench.models.loading import ModelLoadError, load_model
from piebench.models.tiny import SD14_SHAPE, build_parts
from tests.conftest import compose_config


def test_local_diffusers_folder_loads_the_same_model(tiny_model, tmp_path):
    for part in ("vae", "unet", "text_encoder", "tokenizer"):
        getattr(tiny_model, part).save_pretrained(tmp_path / part)
    cfg = compose_config("model=sd14", f"model.path={tmp_path}", "model.device=cpu").model
    loaded = load_model(cfg)
    x, cond = torch.randn(1, 4, 8, 8), tiny_model.encode_prompts(["a cat"])
    assert torch.equal(loaded.encode_prompts(["a cat"]), cond)
    assert torch.equal(loaded.predict(x, 500, cond), tiny_model.predict(x, 500, cond))


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_bin_only_folder_loads_without_the_unsafe_serialization_warning(tiny_model, tmp_path):
    """The parity checkpoint ships ``.bin`` weights: diffusers must not be asked for a
    ``.safetensors`` file it then warns about (twice: VAE and UNet)."""
    for part in ("vae", "unet"):
        getattr(tiny_model, part).save_pretrained(tmp_path / part, safe_serialization=False)
    for part in ("text_encoder", "tokenizer"):
        getattr(tiny_model, part).save_pretrained(tmp_path / part)
    assert not list((tmp_path / "unet").glob("*.safetensors"))
    cfg = compose_config("model=sd14", f"model.path={tmp_path}", "model.device=cpu").model
    collect = Collect()
    logging.getLogger("diffusers").addHandler(collect)  # diffusers logs on its own stderr handler
    try:
        loaded = load_model(cfg)
    finally:
        logging.getLogger("diffusers").removeHandler(collect)
    x, cond = torch.randn(1, 4, 8, 8), tiny_model.encode_prompts(["a cat"])
    assert torch.equal(loaded.predict(x, 500, cond), tiny_model.predict(x, 500, cond))
    assert not [m for m in collect.messages if "unsafe serialization" in m]


def test_incomplete_folder_names_the_missing_parts(tmp_path):
    (tmp_path / "unet").mkdir()
    cfg = compose_config(f"model.path={tmp_path}", "model.device=cpu").model
    with pytest.raises(ModelLoadError, match="missing vae/, text_encoder/, tokenizer/"):
        load_model(cfg)


@pytest.mark.filterwarnings("error:.*local_dir_use_symlinks")  # no library noise first
def test_offline_hub_id_fails_at_once_with_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=3.0: False)
    cfg = compose_config("model.path=someone/not-cached-model", "model.device=cpu").model
    with pytest.raises(ModelLoadError, match="model.path=") as err:
        load_model(cfg)
    assert "hf download someone/not-cached-model --local-dir /models/not-cached-model" in str(
        err.value
    )


def test_missing_local_folder_is_named_as_a_folder_not_a_hub_id(tmp_path):
    folder = tmp_path / "sd-v1-4"
    cfg = compose_config(f"model.path={folder}", "model.device=cpu").model
    with pytest.raises(ModelLoadError, match=f"model.path={folder}: no such folder") as err:
        load_model(cfg)
    assert f"hf download CompVis/stable-diffusion-v1-4 --local-dir {folder}" in str(err.value)
    assert "Hugging Face cache" not in str(err.value)


def test_bad_dtype_and_device_are_named():
    with pytest.raises(ModelLoadError, match="model.dtype"):
        loading.resolve_dtype("fp8")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="model.device=cuda but no CUDA device"):
            resolve_device("cuda")


def save_tiny_checkpoint(model, folder, scheduler_config=None):
    for part in ("vae", "unet", "text_encoder", "tokenizer"):
        getattr(model, part).save_pretrained(folder / part)
    if scheduler_config is not None:
        (folder / "scheduler").mkdir()
        (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(scheduler_config))


def test_prediction_type_comes_from_the_checkpoint(tiny_model, tmp_path):
    """A v-prediction checkpoint (SD 2.x 768) is read as such; model.prediction_type overrides."""
    save_tiny_checkpoint(tiny_model, tmp_path, {"prediction_type": "v_prediction"})
    cfg = compose_config("method=ddim", f"model.path={tmp_path}", "model.device=cpu")
    loaded = load_model(cfg.model)
    assert loaded.prediction_type == "v_prediction"
    method = METHODS.get("ddim")(loaded, cfg.method)
    assert method.schedule.config.prediction_type == "v_prediction"
    # the sampler converts v to eps: eps = sqrt(a) v + sqrt(1 - a) x
    x, v = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    a = method.schedule.alpha(501)
    torch.testing.assert_close(method.schedule.to_eps(v, 501, x), a**0.5 * v + (1 - a) ** 0.5 * x)
    override = compose_config(f"model.path={tmp_path}", "model.prediction_type=epsilon").model
    assert load_model(override).prediction_type == "epsilon"


def test_prediction_type_defaults_to_epsilon_and_rejects_unknown(tiny_model, tmp_path):
    save_tiny_checkpoint(tiny_model, tmp_path)
    assert load_model(compose_config(f"model.path={tmp_path}").model).prediction_type == "epsilon"
    with pytest.raises(ModelLoadError, match="model.prediction_type"):
        load_model(compose_config(f"model.path={tmp_path}", "model.prediction_type=x0").model)


def test_sd14_random_has_stable_diffusion_1_4s_exact_shape():
    """Parameter counts of CompVis/stable-diffusion-v1-4's unet/, vae/, text_encoder/ (built on
    the meta device: no memory, no time), so bench timings on it are SD 1.4's cost."""
    with torch.device("meta"):
        parts = build_parts(SD14_SHAPE)
    counts = {
        k: sum(p.numel() for p in parts[k].parameters()) for k in ("unet", "vae", "text_encoder")
    }
    assert counts == {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480}
    assert parts["unet"].config.cross_attention_dim == parts["text_encoder"].config.hidden_size


class _Built(Exception):
    """Stops ``load_model`` once the weights' device has been chosen."""


def test_built_in_models_are_initialised_where_their_seed_says(monkeypatch):
    """On a non-CPU device, the tiny model is still initialised on the CPU (one seed, the same
    weights everywhere) and sd14_random on that device (a GPU initialises it, not the host)."""
    asked = {}

    def spy(shape, seed=0, device=None):
        asked["sd14" if shape == SD14_SHAPE else "tiny"] = torch.device(device)
        raise _Built

    monkeypatch.setattr(loading, "build_parts", spy)
    monkeypatch.setattr(loading, "resolve_device", lambda *args: torch.device("meta"))
    for kind in ("tiny", "sd14_random"):
        with pytest.raises(_Built):
            load_model(compose_config(f"model={kind}").model)
    assert asked == {"tiny": torch.device("cpu"), "sd14": torch.device("meta")}


@pytest.mark.slow
def test_sd14_random_runs_end_to_end(tmp_path):
    """Full-size random weights at 64 px and 2 steps (about a minute on a CPU)."""
    from piebench.runner import Runner

    cfg = compose_config(
        "method=direct", "model=sd14_random", "model.device=cpu", "data.resolution=64",
        "method.steps=2", "data.limit=1", "evaluate=false", "progress=false",
        f"output_dir={tmp_path}",
    )  # fmt: skip
    summary = Runner(cfg).run()
    assert (summary.ok, summary.failed) == (1, 0)
