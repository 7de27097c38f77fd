"""The fast-path switches: off by default, and each one changes what it says it changes."""

from __future__ import annotations

import copy
import csv
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from diffusers.models.resnet import ResnetBlock2D
from omegaconf import OmegaConf

from piebench.bench.results import COLUMNS, append_row
from piebench.models.fast_path import COMPILED_BLOCKS, compile_blocks, describe
from piebench.models.loading import ModelLoadError, load_model
from tests.conftest import compose_config


def _model(*overrides: str):
    return load_model(compose_config("model=tiny", "model.device=cpu", *overrides).model)


def _predict(model) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    latents = torch.randn(2, 4, 8, 8, generator=generator)
    context = model.encode_prompts(["a cat on a mat", "a dog"])
    with torch.no_grad():
        return model.predict(latents, 500, context)


def test_every_switch_is_off_by_default() -> None:
    for model in ("tiny", "sd14", "sd21base"):
        cfg = compose_config(f"model={model}")
        assert describe(cfg.model) == "off"
    model = _model()
    assert model.autocast is None
    assert all(m._compiled_call_impl is None for m in model.unet.modules())


def test_autocast_runs_the_unet_in_reduced_precision() -> None:
    exact, fast = _predict(_model()), _predict(_model("model.autocast=bf16"))
    assert fast.dtype == torch.float32  # latents and DDIM arithmetic stay in the model dtype
    difference = (fast - exact).abs().max().item()
    assert 0 < difference < 0.05 * exact.abs().max().item()  # bf16 rounding, not another network


def test_autocast_rejects_an_unknown_dtype() -> None:
    with pytest.raises(ModelLoadError, match="model.autocast"):
        load_model(OmegaConf.merge(compose_config("model=tiny").model, {"autocast": "int8"}))


def test_channels_last_changes_layout_not_values() -> None:
    model = _model("model.channels_last=true")
    conv = model.unet.conv_in.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert torch.allclose(_predict(model), _predict(_model()), atol=1e-5)


def test_compiled_blocks_cover_the_non_attention_blocks_and_agree() -> None:
    model = _model()
    exact = _predict(model)
    count = compile_blocks(model.unet, backend="eager")  # dynamo's tracing, no C++ build
    expected = [m for m in model.unet.modules() if isinstance(m, COMPILED_BLOCKS)]
    assert count == len(expected) > 0
    assert any(isinstance(m, ResnetBlock2D) for m in expected)
    assert all(m._compiled_call_impl is not None for m in expected)
    assert torch.allclose(_predict(model), exact, atol=1e-6)


def test_a_named_compile_mode_reaches_every_compiled_block(monkeypatch) -> None:
    """``model.compile=reduce-overhead`` (CUDA graphs) compiles the same blocks in that mode."""
    modes: list = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: modes.append(kw["mode"]))
    unet = _model("model.compile=reduce-overhead").unet
    assert modes == ["reduce-overhead"] * sum(
        isinstance(m, COMPILED_BLOCKS) for m in unet.modules()
    )
    modes.clear()
    _model("model.compile=true")
    assert modes and set(modes) == {None}  # torch.compile's default mode
    cfg = compose_config("model=tiny", "model.channels_last=true", "model.compile=reduce-overhead")
    assert describe(cfg.model) == "channels_last compile=reduce-overhead"


def test_an_unknown_compile_mode_fails_before_loading() -> None:
    with pytest.raises(ModelLoadError, match="model.compile"):
        load_model(OmegaConf.merge(compose_config("model=tiny").model, {"compile": "fast"}))


class _Messages(logging.Handler):
    """Collects a logger's messages (torch's loggers do not propagate to pytest's caplog)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_compiled_blocks_do_not_fall_back_to_eager_across_a_sweeps_variants() -> None:
    """Every ResNet block shares one ``forward``, so all its compiled variants count against one
    recompile limit, past which dynamo silently runs the blocks eagerly. One ``bench -m``
    process meets many: block shapes x gradient mode (NTI, pix2pix-zero) x batch size 1 or
    more x fp32 and autocast bf16 x EDICT's float64 copy (dynamo's default limits fall back here)."""
    model = _model()
    compile_blocks(model.unet, backend="eager")
    twin = copy.deepcopy(model.unet).double()  # EDICT's precision copy keeps the compiled blocks
    context = model.encode_prompts(["a cat on a mat"])
    variants = [(model.unet, torch.float32, False), (model.unet, torch.float32, True)]
    variants.append((twin, torch.float64, False))
    dynamo_log, seen = logging.getLogger("torch._dynamo"), _Messages()
    dynamo_log.addHandler(seen)
    try:
        for unet, dtype, autocast in variants:
            for grad in (False, True):
                for batch in (2, 1):
                    latents = torch.randn(batch, 4, 8, 8, dtype=dtype)
                    hidden = context.to(dtype).expand(batch, -1, -1)
                    with (
                        torch.set_grad_enabled(grad),
                        torch.autocast("cpu", torch.bfloat16, enabled=autocast),
                    ):
                        unet(latents, 500, hidden)
    finally:
        dynamo_log.removeHandler(seen)
    assert not [m for m in seen.messages if "recompile_limit" in m]


def test_bench_row_names_the_fast_path_and_old_files_are_upgraded(tmp_path: Path) -> None:
    old_columns = [c for c in COLUMNS if c != "fast_path"]
    path = tmp_path / "cpu.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=old_columns)
        writer.writeheader()
        writer.writerow({"device": "cpu", "method": "ddim"})
    cfg = compose_config("model=tiny", "model.autocast=bf16", "model.compile=true")
    append_row({"device": "cpu", "method": "direct", "fast_path": describe(cfg.model)}, tmp_path)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == ["ddim", "direct"]
    assert [r["fast_path"] for r in rows] == ["", "autocast=bf16 compile"]


@pytest.mark.slow
def test_a_run_with_every_switch_on(tmp_path: Path) -> None:
    """The real inductor build (about a minute on a CPU), through P2P's attention swaps."""
    command = [
        sys.executable, "-m", "piebench", "run", "method=direct", "model=tiny",
        "model.device=cpu", "model.autocast=bf16", "model.channels_last=true",
        "model.compile=true", "data.limit=2", "evaluate=false", f"output_dir={tmp_path}",
    ]  # fmt: skip
    subprocess.run(command, check=True, timeout=900)
    assert len(list((tmp_path / "direct").rglob("*.jpg"))) == 2
