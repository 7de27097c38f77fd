"""pix2pix-zero's noise regularisation (Parmar et al. 2023, Sec. 3.1): during DDIM inversion the
predicted noise is pushed towards uncorrelated, standard-normal noise by gradient steps on an
auto-correlation loss and a KL divergence, every inversion step.

Notation (code -> paper): ``eps`` -> epsilon_theta(x_t, t, c) of one inversion step; ``levels``
-> the pyramid eta^0 (the latent size) ... eta^L (8 x 8) built by 2x2 average pooling;
``shift`` -> delta, the random roll of one channel at one level (the same shift along H and W).

- L_ac(eta) = sum over channels c and levels l of  mean(eta_{c,l} * roll_H(eta_{c,l}, delta))^2
  + mean(eta_{c,l} * roll_W(eta_{c,l}, delta))^2
- KL(eta) = var(eta) + mean(eta)^2 - 1 - log(var(eta) + 1e-7), over the whole tensor of one
  sample (unbiased variance)

One regularisation of eps: ``outer`` times { ``inner`` steps eps <- eps - lambda_ac grad L_ac / inner
(fresh shifts each), then eps <- eps - lambda_kl grad KL }. Every statistic is **per sample**: the
reference runs one image at a time (it asserts batch 1), so in a batch each sample's losses see only
its own tensor and its own shifts.

Shifts come from one ``random.Random`` per sample (the reference seeds Python's ``random`` with the
run seed before every image), drawn as ``randrange(H // 2)`` (0 allowed, the reference; the
authors' later fix draws from 1 .. H // 2 - 1: ``allow_zero_shift=False``) in the reference's
order: inversion step -> outer -> inner -> channel -> level.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

SMALLEST_LEVEL = 8  # the pyramid stops once a level is 8 x 8 or smaller


@dataclass(frozen=True)
class RegularizationSettings:
    """``lambda_ac`` / ``lambda_kl``: step sizes (0 switches a loss off, drawing no shifts);
    ``outer`` x (``inner`` auto-correlation steps + one KL step) per inversion step."""

    lambda_ac: float = 20.0
    lambda_kl: float = 20.0
    outer: int = 5
    inner: int = 5
    allow_zero_shift: bool = True


def pyramid_sizes(height: int) -> list[int]:
    """Heights of the levels for a latent of ``height`` rows: 64 -> [64, 32, 16, 8]."""
    sizes = [height]
    while sizes[-1] > SMALLEST_LEVEL:
        sizes.append(sizes[-1] // 2)
    return sizes


def draw_shifts(
    rngs: list[random.Random], channels: int, height: int, allow_zero: bool = True
) -> torch.Tensor:
    """(levels, B, C) shifts for one auto-correlation step, each sample from its own generator in
    the order channel -> level."""
    sizes = pyramid_sizes(height)
    shifts = torch.empty(len(sizes), len(rngs), channels, dtype=torch.long)
    for b, rng in enumerate(rngs):
        for c in range(channels):
            for level, size in enumerate(sizes):
                half = size // 2
                low = 0 if allow_zero or half < 2 else 1
                shifts[level, b, c] = rng.randrange(low, half)
    return shifts


def _roll_rows(x: torch.Tensor, shifts: torch.Tensor, dim: int) -> torch.Tensor:
    """``torch.roll(x[b, c], shifts[b, c], dim)`` for every (b, c) of a (B,C,H,W) tensor at once."""
    size = x.shape[dim]
    source = (torch.arange(size, device=x.device) - shifts.to(x.device)[..., None]) % size
    if dim == 2:
        index = source[..., None].expand(-1, -1, -1, x.shape[3])
    else:
        index = source[..., None, :].expand(-1, -1, x.shape[2], -1)
    return x.gather(dim, index)


def auto_correlation_loss(eps: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """L_ac per sample, (B,), of (B,C,H,W) noise with (levels, B, C) shifts."""
    loss = eps.new_zeros(eps.shape[0])
    level = eps
    for depth, level_shifts in enumerate(shifts):
        if depth:
            level = F.avg_pool2d(level, kernel_size=2)
        for dim in (2, 3):
            correlation = (level * _roll_rows(level, level_shifts, dim)).mean((2, 3))
            loss = loss + (correlation**2).sum(1)
    return loss


def kl_divergence(eps: torch.Tensor) -> torch.Tensor:
    """KL to a standard normal per sample, (B,), from each sample's mean and unbiased variance."""
    flat = eps.flatten(1)
    var = flat.var(dim=1)
    return var + flat.mean(dim=1) ** 2 - 1 - torch.log(var + 1e-7)


def _gradient(eps: torch.Tensor, loss_fn: object, *args: torch.Tensor) -> torch.Tensor:
    """d(sum of per-sample losses)/d eps: each sample's gradient of its own loss."""
    leaf = eps.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(loss_fn(leaf, *args).sum(), leaf)  # type: ignore[operator]
    return grad


def regularize_noise(
    eps: torch.Tensor, rngs: list[random.Random], settings: RegularizationSettings
) -> torch.Tensor:
    """The regularised (B,C,H,W) noise of one inversion step; ``rngs``: one per sample."""
    if len(rngs) != eps.shape[0]:
        raise ValueError(f"need one shift generator per sample: {len(rngs)} for {eps.shape[0]}")
    eps = eps.detach()
    for _ in range(settings.outer):
        if settings.lambda_ac > 0:
            for _ in range(settings.inner):
                shifts = draw_shifts(rngs, eps.shape[1], eps.shape[2], settings.allow_zero_shift)
                grad = _gradient(eps, auto_correlation_loss, shifts)
                eps = eps - settings.lambda_ac * (grad / settings.inner)
        if settings.lambda_kl > 0:
            eps = eps - settings.lambda_kl * _gradient(eps, kl_divergence)
    return eps
