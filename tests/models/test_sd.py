import logging
from types import SimpleNamespace

import numpy as np
import torch

from piebench.models.sd import images_to_tensor


def test_long_prompt_is_truncated_with_a_warning_naming_the_sample(tiny_model, caplog):
    long_prompt = " ".join(["a very long prompt about a cat"] * 20)
    with caplog.at_level(logging.WARNING):
        emb = tiny_model.encode_prompts([long_prompt, "a cat"], labels=["000000000042", "x"])
    assert emb.shape[:2] == (2, 77)
    assert "sample 000000000042" in caplog.text and "truncated to 77" in caplog.text
    assert "sample x" not in caplog.text


def test_image_encoding_uses_the_reference_pixel_mapping(tiny_model):
    """uint8 -> x / 127.5 - 1 into the VAE; latents = posterior mean x scaling factor."""
    images = images_to_tensor(
        [np.full((64, 64, 3), 255, np.uint8), np.arange(64 * 64 * 3).reshape(64, 64, 3) % 256]
    ).to(torch.uint8)
    seen = []
    hook = tiny_model.vae.encoder.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    try:
        latents = tiny_model.encode_images(images)
    finally:
        hook.remove()
    torch.testing.assert_close(seen[0], images.float() / 127.5 - 1, atol=0, rtol=0)
    mean = tiny_model.vae.encode(images.float() / 127.5 - 1).latent_dist.mean
    torch.testing.assert_close(latents, mean * tiny_model.scaling_factor)


def test_decoding_truncates_like_the_reference(tiny_model, monkeypatch):
    """VAE input = 1 / scaling factor x latents, bit for bit (the reference's ``latent2image``;
    dividing differs in the last bit on about a quarter of the values); pixels =
    (x / 2 + 0.5).clamp(0, 1) x 255, truncated."""
    values = torch.tensor([-1.5, -1.0, 0.0, 0.999, 1.2])  # -> 0, 0, 127.5 -> 127, 254.87 -> 254
    received = []

    def fake_decode(z):
        received.append(z)
        return SimpleNamespace(sample=values.view(1, 1, 1, 5).expand(1, 3, 1, 5))

    monkeypatch.setattr(tiny_model.vae, "decode", fake_decode)
    latents = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    pixels = tiny_model.decode(latents)
    torch.testing.assert_close(received[0], 1 / 0.18215 * latents, atol=0, rtol=0)
    assert pixels.dtype == np.uint8 and pixels.shape == (1, 1, 5, 3)
    assert pixels[0, 0, :, 0].tolist() == [0, 0, 127, 254, 255]
