"""The reference's saved layout: one strip ``[prompts | source | reconstruction | edit]``.

Why it exists: the reference saves every result as one JPEG strip (quality 75, 4:2:0 chroma),
and its evaluator scores the rightmost square. A JPEG decoder interpolates chroma across the
panel edge, so the edit's first pixel column depends on the reconstruction panel beside it: the
edit of a strip decodes exactly as the reference's evaluator saw it, a lone JPEG of the same
edit does not (column 0 differs; whole-image CLIP and structure distance move with it).
``image_format=strip`` stores this layout. Only the reconstruction panel's last columns reach
the edit's pixels; the prompt panel is for the eye (the reference draws it with matplotlib).
"""

from __future__ import annotations

import textwrap

import numpy as np
from PIL import Image, ImageDraw


def prompt_panel(text: str, size: int) -> np.ndarray:
    """A white (size, size, 3) panel with ``text`` wrapped in black, as the strip's first panel."""
    panel = Image.new("RGB", (size, size), "white")
    lines = [wrapped for line in text.splitlines() for wrapped in textwrap.wrap(line, 60) or [""]]
    ImageDraw.Draw(panel).multiline_text((8, 8), "\n".join(lines), fill="black")
    return np.asarray(panel)


def reference_strip(
    source_prompt: str,
    target_prompt: str,
    source: np.ndarray,
    reconstruction: np.ndarray | None,
    edited: np.ndarray,
) -> np.ndarray:
    """The (H, 4W, 3) strip of one sample; ``reconstruction`` None = a black panel (what the
    reference's Blended Latent Diffusion saves there)."""
    text = f"source prompt: {source_prompt}\ntarget prompt: {target_prompt}"
    beside = np.zeros_like(edited) if reconstruction is None else reconstruction
    return np.concatenate([prompt_panel(text, edited.shape[0]), source, beside, edited], axis=1)
