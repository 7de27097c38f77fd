import pytest
import torch

from piebench.models import loading
from piebench.models.loading import ModelLoadError, load_model
from tests.conftest import compose_config


def test_local_diffusers_folder_loads_the_same_model(tiny_model, tmp_path):
    for part in ("vae", "unet", "text_encoder", "tokenizer"):
        getattr(tiny_model, part).save_pretrained(tmp_path / part)
    cfg = compose_config("model=sd14", f"model.path={tmp_path}", "model.device=cpu").model
    loaded = load_model(cfg)
    x, cond = torch.randn(1, 4, 8, 8), tiny_model.encode_prompts(["a cat"])
    assert torch.equal(loaded.encode_prompts(["a cat"]), cond)
    assert torch.equal(loaded.predict(x, 500, cond), tiny_model.predict(x, 500, cond))


def test_incomplete_folder_names_the_missing_parts(tmp_path):
    (tmp_path / "unet").mkdir()
    cfg = compose_config(f"model.path={tmp_path}", "model.device=cpu").model
    with pytest.raises(ModelLoadError, match="missing vae/, text_encoder/, tokenizer/"):
        load_model(cfg)


def test_offline_hub_id_fails_at_once_with_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=3.0: False)
    cfg = compose_config("model.path=someone/not-cached-model", "model.device=cpu").model
    with pytest.raises(ModelLoadError, match="model.path=") as err:
        load_model(cfg)
    assert "huggingface-cli download someone/not-cached-model" in str(err.value)


def test_bad_dtype_and_device_are_named():
    with pytest.raises(ModelLoadError, match="model.dtype"):
        loading.resolve_dtype("fp8")
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="no CUDA device"):
            loading.resolve_device("cuda")
