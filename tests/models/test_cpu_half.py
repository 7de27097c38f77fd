"""fp16 convolutions on the CPU computed in float32 and rounded: the same values as torch's own
fp16 CPU convolution up to the accumulation order, weights untouched."""

from __future__ import annotations

import torch
from torch import nn

from piebench.models.cpu_half import Float32AccumulatedConv2d, accumulate_convs_in_float32


def test_fp16_cpu_convolution_matches_torch_within_fp16_rounding():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.SiLU(), nn.Conv2d(16, 4, 1)).half()
    x = torch.randn(2, 8, 16, 16).half()
    with torch.no_grad():
        expected = net(x)
        state = {k: v.clone() for k, v in net.state_dict().items()}
        accumulate_convs_in_float32(net)
        got = net(x)
    assert all(type(m) is Float32AccumulatedConv2d for m in net if isinstance(m, nn.Conv2d))
    assert got.dtype == torch.float16
    ulp = torch.finfo(torch.float16).eps * expected.float().abs().clamp(min=2**-14)
    assert ((got.float() - expected.float()).abs() <= 4 * ulp).all()
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())


def test_float32_inputs_take_the_plain_path():
    conv = accumulate_convs_in_float32(nn.Conv2d(3, 3, 3))
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(conv(x), nn.functional.conv2d(x, conv.weight, conv.bias))
