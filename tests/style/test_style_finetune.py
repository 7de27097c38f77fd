"""style finetune: a few steps change a copy of the UNet and never the base model; the saved
UNet reloads to the same outputs; an interrupted run resumes from its last checkpoint to the
weights of an uninterrupted one."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers.models.attention_processor import AttnProcessor

from piebench.config_schema import ConfigError
from piebench.models.loading import load_model
from piebench.style.config import run_dir
from piebench.style.finetune import checkpoints, finetune_dir, load_finetuned_unet, run_finetune
from piebench.style.fit import run_fit
from piebench.style.generate import run_generate
from tests.style.conftest import lock_held

TRAIN = ("style.train_batch_size=2", "style.learning_rate=1e-3", "style.checkpoint_every=1")


def unet_output(unet, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    latents, context = torch.randn(1, 4, 8, 8, generator=g), torch.randn(1, 77, 32, generator=g)
    with torch.no_grad():
        return unet(latents, 500, encoder_hidden_states=context).sample


def test_finetune_changes_a_copy_and_reloads_to_the_same_outputs(make_cfg, tiny_model):
    cfg = make_cfg("style.steps=3", *TRAIN)
    run_fit(cfg, tiny_model)
    base_before = {k: v.clone() for k, v in tiny_model.unet.state_dict().items()}
    out = run_finetune(cfg, tiny_model)
    for key, value in tiny_model.unet.state_dict().items():
        assert torch.equal(value, base_before[key]), f"base UNet changed at {key}"
    tuned = load_finetuned_unet(cfg, tiny_model)
    changed = [k for k, v in tuned.state_dict().items() if not torch.equal(v, base_before[k])]
    assert len(changed) > len(base_before) // 2
    assert not torch.allclose(unet_output(tuned), unet_output(tiny_model.unet))
    assert [step for step, _ in checkpoints(out)] == [2, 3]  # keep_checkpoints=2
    summary = json.loads((out / "finetune.json").read_text())
    assert len(summary["losses"]) == 3 and summary["resumed_from"] == 0

    interrupted = make_cfg("style.steps=2", *TRAIN, "style.name=resumed")
    run_fit(interrupted, tiny_model)
    run_finetune(interrupted, tiny_model)
    resumed = make_cfg("style.steps=3", *TRAIN, "style.name=resumed")
    run_finetune(resumed, tiny_model)
    assert json.loads((finetune_dir(resumed) / "finetune.json").read_text())["resumed_from"] == 2
    torch.testing.assert_close(
        unet_output(load_finetuned_unet(resumed, tiny_model)), unet_output(tuned)
    )


def test_ema_weights_are_saved_and_steps_zero_is_training_free(make_cfg, tiny_model):
    cfg = make_cfg("style.steps=2", *TRAIN, "style.ema=true", "style.ema_decay=0.5")
    run_fit(cfg, tiny_model)
    plain = make_cfg("style.steps=2", *TRAIN, "style.name=plain")
    run_fit(plain, tiny_model)
    run_finetune(cfg, tiny_model)
    ema_unet = load_finetuned_unet(cfg, tiny_model)
    run_finetune(plain, tiny_model)
    plain_unet = load_finetuned_unet(plain, tiny_model)
    base, ema, last = (unet_output(u) for u in (tiny_model.unet, ema_unet, plain_unet))
    # decay 0.5 averages the last weights with earlier ones: between base and the last step
    assert (ema - base).abs().mean() < (last - base).abs().mean()
    assert not torch.allclose(ema, base)
    free = make_cfg("style.steps=0", "style.name=free")
    assert not (run_finetune(free, tiny_model) / "unet").exists()
    with pytest.raises(ConfigError, match="style finetune"):
        load_finetuned_unet(free, tiny_model)


def test_finetune_needs_a_fit(make_cfg, tiny_model):
    cfg = make_cfg("style.steps=1", "style.name=unfit")
    with pytest.raises(ConfigError, match="style fit"):
        run_finetune(cfg, tiny_model)
    assert not run_dir(cfg).exists() or not (run_dir(cfg) / "finetune" / "unet").exists()


def test_the_finetuned_unet_computes_as_the_base_model_is_configured(make_cfg):
    """``model.attention=explicit`` (and the CPU fp16 path, the fast-path switches) apply to the
    fine-tuned UNet as to the checkpoint's: the guidance grid compares like with like."""
    cfg = make_cfg("style.steps=1", *TRAIN, "style.name=explicit", "model.attention=explicit")
    base = load_model(cfg.model)
    run_fit(cfg, base)
    run_finetune(cfg, base)
    tuned = load_finetuned_unet(cfg, base)
    processors = list(tuned.attn_processors.values())
    assert processors and all(type(p) is AttnProcessor for p in processors)
    assert not tuned.training and not any(p.requires_grad for p in tuned.parameters())


def test_a_resume_refuses_checkpoints_of_another_noise_or_settings(make_cfg, tiny_model):
    """The checkpoints record what they were trained on: after ``style fit`` ran again, or with
    another learning rate, resuming would mix two trainings; a longer run of the same resumes."""
    cfg = make_cfg("style.steps=1", *TRAIN, "style.name=refit")
    run_fit(cfg, tiny_model)
    out = run_finetune(cfg, tiny_model)
    inputs = json.loads((out / "training.json").read_text())
    assert inputs["style"]["learning_rate"] == 1e-3 and len(inputs["style_images"]) == 4

    faster = make_cfg("style.steps=2", *TRAIN, "style.name=refit", "style.learning_rate=1e-2")
    with pytest.raises(ConfigError, match=r"style\.learning_rate 0\.001 -> 0\.01"):
        run_finetune(faster, tiny_model)
    with pytest.raises(ConfigError, match="seed 1234 -> 5"):
        run_finetune(make_cfg("style.steps=1", *TRAIN, "style.name=refit", "seed=5"), tiny_model)
    shorter = make_cfg("style.steps=1", *TRAIN, "style.name=refit")
    run_finetune(make_cfg("style.steps=2", *TRAIN, "style.name=refit"), tiny_model)
    with pytest.raises(ConfigError, match=r"style\.steps>=2"):
        run_finetune(shorter, tiny_model)

    refit = make_cfg("style.steps=3", *TRAIN, "style.name=refit", "style.std_ddof=0")
    run_fit(refit, tiny_model)
    with pytest.raises(ConfigError, match=r"the style noise \(style fit ran again\)"):
        run_finetune(refit, tiny_model)
    (out / "training.json").unlink()
    with pytest.raises(ConfigError, match="no training.json"):
        run_finetune(refit, tiny_model)
    assert [step for step, _ in checkpoints(out)] == [1, 2]  # nothing removed


def test_generate_refuses_a_unet_trained_on_an_earlier_noise(make_cfg, tiny_model):
    """After ``style fit`` ran again, the fine-tuned UNet belongs to the old noise: sampling the
    new noise with it would be neither model, so ``finetuned`` stops until it is trained again."""
    cfg = make_cfg("style.steps=1", *TRAIN, "style.name=stale", "style.models=[finetuned]")
    run_fit(cfg, tiny_model)
    run_finetune(cfg, tiny_model)
    load_finetuned_unet(cfg, tiny_model)
    run_fit(make_cfg("style.name=stale", "style.std_ddof=0"), tiny_model)
    with pytest.raises(ConfigError, match="trained on an earlier style noise"):
        load_finetuned_unet(cfg, tiny_model)
    with pytest.raises(ConfigError, match="trained on an earlier style noise"):
        run_generate(cfg, tiny_model)
    assert not (run_dir(cfg) / "generate" / "records.jsonl").exists()


def test_a_second_finetune_of_a_busy_run_stops(make_cfg, tiny_model):
    cfg = make_cfg("style.steps=1", *TRAIN, "style.name=busy")
    run_fit(cfg, tiny_model)
    finetune_dir(cfg).mkdir(parents=True)
    with (
        lock_held(finetune_dir(cfg) / ".lock"),
        pytest.raises(ConfigError, match="another `style finetune` is writing"),
    ):
        run_finetune(cfg, tiny_model)
    assert not checkpoints(finetune_dir(cfg))
    assert [step for step, _ in checkpoints(run_finetune(cfg, tiny_model))] == [1]


def test_finetune_and_the_finetuned_model_wait_for_what_they_build_on(
    make_cfg, tiny_model, style_folder
):
    """Fine-tuning on other images than the noise was fitted on would mix two styles; a UNet
    that ``style finetune`` is still writing is not the finished model."""
    cfg = make_cfg("style.steps=1", *TRAIN, "style.name=waits", "style.models=[finetuned]")
    run_fit(cfg, tiny_model)
    run_finetune(cfg, tiny_model)
    with (
        lock_held(finetune_dir(cfg) / ".lock"),
        pytest.raises(ConfigError, match="`style finetune` is writing"),
    ):
        run_generate(cfg, tiny_model)
    assert len(list(run_generate(cfg, tiny_model).glob("finetuned/*/*.png"))) == 8
    (style_folder / "extra.png").write_bytes((style_folder / "style_1.png").read_bytes())
    more = make_cfg("style.steps=2", *TRAIN, "style.name=waits")
    with pytest.raises(ConfigError, match=r"changed since `style fit` \(4 fitted, 5 now, 1 new"):
        run_finetune(more, tiny_model)
