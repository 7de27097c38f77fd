"""fp16 convolutions, linear layers and fused attention on the CPU computed in float32 and
rounded: the same values as torch's own fp16 CPU kernels up to the accumulation order (and the
attention's probabilities kept in float32), weights untouched, float32 inputs untouched."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import AttnProcessor2_0
from torch import nn

from piebench.models.cpu_half import (
    Float32AccumulatedConv2d,
    Float32AccumulatedLinear,
    accumulate_in_float32,
    scaled_dot_product_attention,
)
from piebench.models.loading import load_model
from piebench.p2p.layer_io import FusedAttnProcessor
from tests.conftest import compose_config


def within_fp16_ulps(got: torch.Tensor, expected: torch.Tensor, ulps: int) -> bool:
    ulp = torch.finfo(torch.float16).eps * expected.float().abs().clamp(min=2**-14)
    return bool(((got.float() - expected.float()).abs() <= ulps * ulp).all())


def test_fp16_cpu_convolutions_and_linears_match_torch_within_fp16_rounding():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(8, 16, 3, padding=1), nn.SiLU(), nn.Conv2d(16, 4, 1), nn.Flatten(1),
        nn.Linear(4 * 16 * 16, 32), nn.SiLU(), nn.Linear(32, 8, bias=False),
    ).half()  # fmt: skip
    x = torch.randn(2, 8, 16, 16).half()
    with torch.no_grad():
        expected = net(x)
        state = {k: v.clone() for k, v in net.state_dict().items()}
        accumulate_in_float32(net)
        got = net(x)
    assert [type(m) for m in net if isinstance(m, (nn.Conv2d, nn.Linear))] == [
        Float32AccumulatedConv2d, Float32AccumulatedConv2d,
        Float32AccumulatedLinear, Float32AccumulatedLinear,
    ]  # fmt: skip
    assert got.dtype == torch.float16
    assert within_fp16_ulps(got, expected, 4)
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())


def test_float32_inputs_take_the_plain_path():
    conv, linear = accumulate_in_float32(nn.Sequential(nn.Conv2d(3, 3, 3), nn.Linear(6, 5)))
    x = torch.randn(1, 3, 8, 8)
    q, k, v = torch.randn(3, 1, 2, 16, 8).unbind()
    with torch.no_grad():
        assert torch.equal(conv(x), F.conv2d(x, conv.weight, conv.bias))
        assert torch.equal(linear(x[..., :6]), F.linear(x[..., :6], linear.weight, linear.bias))
    assert torch.equal(
        scaled_dot_product_attention(q, k, v, scale=0.3),
        F.scaled_dot_product_attention(q, k, v, scale=0.3),
    )


def test_fp16_cpu_attention_is_float32_attention_rounded():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 2, 64, 8).unbind()
    mask = torch.randn(64, 64)
    got = scaled_dot_product_attention(q.half(), k.half(), v.half(), attn_mask=mask.half())
    wide = F.scaled_dot_product_attention(
        q.half().float(), k.half().float(), v.half().float(), attn_mask=mask.half().float()
    )
    assert got.dtype == torch.float16
    assert torch.equal(got, wide.half())
    torch_fp16 = F.scaled_dot_product_attention(q.half(), k.half(), v.half(), attn_mask=mask.half())
    assert (got.float() - torch_fp16.float()).abs().max() <= 2e-3  # both round near 1: 5e-4


def test_fp16_cpu_model_attends_in_float32_and_matches_diffusers_processor():
    """A model loaded in fp16 on the CPU gets the float32-accumulated layers and our fused
    processor; a UNet call agrees with diffusers' own fp16 processor to a few fp16 ulps."""
    model = load_model(compose_config("model=tiny", "model.dtype=fp16").model)
    assert {type(p) for p in model.unet.attn_processors.values()} == {FusedAttnProcessor}
    assert {type(p) for p in model.vae.attn_processors.values()} == {FusedAttnProcessor}
    assert any(isinstance(m, Float32AccumulatedLinear) for m in model.text_encoder.modules())
    x = torch.randn(2, 4, 8, 8).half()
    context = model.encode_prompts(["a cat", ""])
    ours = model.predict(x, 500, context)
    model.unet.set_attn_processor(AttnProcessor2_0())
    theirs = model.predict(x, 500, context)
    assert ours.dtype == torch.float16
    assert (ours.float() - theirs.float()).abs().max() <= 0.01 * theirs.float().abs().max()
