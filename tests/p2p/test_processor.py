"""P2P attention control on the tiny UNet: restoration, and target = source when fully replaced."""

import pytest
import torch

from piebench.p2p.controller import EditPair, P2PController, P2PSettings
from piebench.p2p.processor import attention_control
from piebench.sampler.loop import denoise
from piebench.sampler.schedule import DDIMSchedule


def controller(model, pairs, steps, **settings):
    return P2PController(
        P2PSettings(**settings), pairs, model.tokenizer, steps, (8, 8), model.device
    )


def test_processors_restored_after_run_and_after_exception(tiny_model):
    unet = tiny_model.unet
    before = dict(unet.attn_processors)
    ctrl = controller(tiny_model, [EditPair("a cat", "a dog", ("cat", "dog"))], 4)
    x = torch.randn(2, 4, 8, 8)
    cond = tiny_model.encode_prompts(["a cat", "a dog"])
    with attention_control(unet, ctrl):
        assert all(type(p).__name__ == "P2PAttnProcessor" for p in unet.attn_processors.values())
        tiny_model.predict(torch.cat([x, x]), 500, torch.cat([cond, cond]))
    assert unet.attn_processors == before
    with pytest.raises(RuntimeError, match="boom"), attention_control(unet, ctrl):
        raise RuntimeError("boom")
    assert unet.attn_processors == before


def test_full_replacement_with_identical_prompts_gives_target_equal_source(tiny_model):
    steps = 5
    schedule = DDIMSchedule(steps)
    prompt = "a photo of a cat on a sofa"
    ctrl = controller(
        tiny_model,
        [EditPair(prompt, prompt, None)],
        steps,
        cross_replace_steps=1.0,
        self_replace_steps=1.0,
    )
    x_t = torch.randn(1, 4, 8, 8).repeat(2, 1, 1, 1)
    cond = tiny_model.encode_prompts([prompt, prompt])
    uncond = tiny_model.encode_prompts([""]).expand(2, -1, -1)
    with attention_control(tiny_model.unet, ctrl):
        out = denoise(tiny_model, schedule, x_t, cond, uncond, 7.5, [ctrl])
    torch.testing.assert_close(out[1], out[0], atol=1e-6, rtol=0)


def plain_and_uncontrolled(model, explicit):
    """UNet output without processors of ours, and with an idle P2P controller installed."""
    x = torch.randn(4, 4, 8, 8)
    cond = model.encode_prompts(["a cat", "a dog", "a cat", "a dog"])
    plain = model.predict(x, 300, cond)
    pairs = [EditPair("a cat", "a dog", None)]
    ctrl = controller(model, pairs, 10, cross_replace_steps=0.0, self_replace_steps=0.0)
    ctrl.step = 9  # past every control window
    with attention_control(model.unet, ctrl, explicit=explicit):
        assert not ctrl.wants_probs(True, 64) and not ctrl.wants_probs(False, 64)
        return plain, model.predict(x, 300, cond)


def test_fused_path_matches_explicit_attention(tiny_model):
    """Outside the control window the processor uses SDPA; it must equal the explicit maths."""
    plain, fused = plain_and_uncontrolled(tiny_model, explicit=False)
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=1e-5)


def test_explicit_attention_option_uses_the_reference_maths_everywhere():
    from diffusers.models.attention_processor import AttnProcessor

    from piebench.models.loading import load_model
    from tests.conftest import compose_config

    model = load_model(compose_config("model=tiny", "model.attention=explicit").model)
    assert model.explicit_attention
    assert all(isinstance(p, AttnProcessor) for p in model.unet.attn_processors.values())
    plain, controlled = plain_and_uncontrolled(model, explicit=True)
    assert torch.equal(controlled, plain)  # idle control still takes the explicit path
