"""fp16 convolutions, linear layers and fused attention on the CPU at float32 speed.

torch has no fast fp16 kernels on most CPUs: an fp16 convolution falls back to
``_slow_conv2d_forward`` (im2col + a generic gemm that accumulates in float32 and rounds the sum
to fp16), an fp16 ``addmm`` to the same generic gemm, and the fused attention kernel runs slower
in fp16 than in float32. Together they made an fp16 UNet call about 2.6x slower than a float32
one. Computing on the fp16 values in float32 and rounding the result to fp16 gives the same
rounded sums (up to the order of the float32 accumulation; the fused attention also keeps its
probabilities in float32 where torch's fp16 kernel rounds them before the product with the
values), so fp16 runs such as the reference's Blended Latent Diffusion are reproducible on a CPU
at float32 speed. Weights and state dicts stay fp16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _cpu_half(x: torch.Tensor) -> bool:
    return x.dtype == torch.float16 and x.device.type == "cpu"


def _wide(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else x.float()


class Float32AccumulatedConv2d(nn.Conv2d):
    """``nn.Conv2d`` that convolves fp16 CPU tensors in float32 and rounds the output to fp16."""

    def _conv_forward(
        self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        if not _cpu_half(input):
            return super()._conv_forward(input, weight, bias)
        return super()._conv_forward(input.float(), weight.float(), _wide(bias)).half()


class Float32AccumulatedLinear(nn.Linear):
    """``nn.Linear`` that multiplies fp16 CPU tensors in float32 and rounds the output to fp16."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not _cpu_half(input):
            return super().forward(input)
        return F.linear(input.float(), self.weight.float(), _wide(self.bias)).half()


def accumulate_in_float32(module: nn.Module) -> nn.Module:
    """Switch every plain ``nn.Conv2d`` and ``nn.Linear`` of ``module`` to its float32-accumulated
    twin in place."""
    twins = {nn.Conv2d: Float32AccumulatedConv2d, nn.Linear: Float32AccumulatedLinear}
    for child in module.modules():
        twin = twins.get(type(child))
        if twin is not None:
            child.__class__ = twin
    return module


def scaled_dot_product_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, **kwargs: object
) -> torch.Tensor:
    """``F.scaled_dot_product_attention``; fp16 CPU inputs are attended in float32 and the output
    rounded to fp16 (a float attention mask is widened with them)."""
    if not _cpu_half(query):
        return F.scaled_dot_product_attention(query, key, value, **kwargs)
    mask = kwargs.get("attn_mask")
    if isinstance(mask, torch.Tensor) and mask.is_floating_point():
        kwargs = {**kwargs, "attn_mask": mask.float()}
    return F.scaled_dot_product_attention(
        query.float(), key.float(), value.float(), **kwargs
    ).half()
