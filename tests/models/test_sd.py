import logging

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
    images = images_to_tensor(
        [np.full((64, 64, 3), 255, np.uint8), np.zeros((64, 64, 3), np.uint8)]
    )
    assert images.dtype == torch.uint8 and images.shape == (2, 3, 64, 64)
    latents = tiny_model.encode_images(images)
    assert latents.shape == (2, 4, 8, 8) and latents.dtype == torch.float32
    decoded = tiny_model.decode(latents)
    assert decoded.shape == (2, 64, 64, 3) and decoded.dtype == np.uint8
