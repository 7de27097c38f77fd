"""A ten-edit sample benchmark in exact PIE-Bench format, built from scikit-image's photos.

The real PIE-Bench is gated and cannot ship, so tests, smoke runs and first-time users need a
small stand-in that goes through the very same loader. The photos come from ``skimage.data``
(CC0 / public domain, already installed as a dependency), so the folder can be committed and
rebuilt anywhere with ``python -m piebench.data.sample_benchmark [out_dir]``.

Everything that defines the sample is data in this module: the photos with their licence facts,
and per edit the prompts, instruction, edit type, blended words and the mask drawn as a few
ellipses / polygons / rectangles. Mask coordinates are ``(x, y)`` pixels of the *prepared*
512x512 image (centre crop, then resize; see ``piebench.data.images.prepare_image``), because
that is the grid PIE-Bench masks live on. Source images are stored at their original size so
the loader's convert-and-crop path is exercised (``coffee``, ``rocket``, ``chelsea`` are not
square; ``camera`` is grayscale).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data as skdata
from skimage import draw

from piebench.data.pie_bench import EDIT_TYPES, IMAGE_DIR, MAPPING_FILE, MASK_SIZE, SAMPLE_ROOT
from piebench.data.rle import encode_rle

logger = logging.getLogger(__name__)

JPEG_QUALITY = 95
README_FILE = "README.md"

Point = tuple[float, float]


@dataclass(frozen=True)
class Photo:
    """A ``skimage.data`` photo and the licence facts quoted from its docstring."""

    name: str
    description: str
    licence: str


@dataclass(frozen=True)
class Shape:
    """One mask primitive in prepared-image ``(x, y)`` pixels; ``subtract`` cuts it out.

    ``kind`` is ``ellipse`` (params: centre x, centre y, radius x, radius y), ``polygon``
    (params: the vertices), ``rect`` (params: x0, y0, x1, y1, inclusive) or ``full``.
    """

    kind: str
    params: tuple = ()
    subtract: bool = False


@dataclass(frozen=True)
class Edit:
    """One benchmark entry; the id and image path are derived from its position and type."""

    photo: str
    edit_type: int
    original_prompt: str
    editing_prompt: str
    editing_instruction: str
    blended_word: str
    mask: tuple[Shape, ...]


def ellipse(cx: float, cy: float, rx: float, ry: float, subtract: bool = False) -> Shape:
    return Shape("ellipse", (cx, cy, rx, ry), subtract)


def polygon(*points: Point, subtract: bool = False) -> Shape:
    return Shape("polygon", tuple(points), subtract)


def rect(x0: int, y0: int, x1: int, y1: int, subtract: bool = False) -> Shape:
    return Shape("rect", (x0, y0, x1, y1), subtract)


def cut(shape: Shape) -> Shape:
    """The same shape, subtracted instead of added."""
    return replace(shape, subtract=True)


FULL = Shape("full")

PHOTOS: dict[str, Photo] = {
    photo.name: photo
    for photo in (
        Photo(
            "chelsea",
            "Chelsea the cat (300x451 RGB)",
            "No copyright restrictions. CC0 by the photographer (Stefan van der Walt).",
        ),
        Photo(
            "coffee",
            "Coffee cup, courtesy of Pikolo Espresso Bar (400x600 RGB)",
            "No copyright restrictions. CC0 by the photographer (Rachel Michetti).",
        ),
        Photo(
            "astronaut",
            "Astronaut Eileen Collins, from the NASA Great Images database (512x512 RGB)",
            "No known copyright restrictions, released into the public domain.",
        ),
        Photo(
            "rocket",
            "Launch photo of DSCOVR on Falcon 9 by SpaceX (427x640 RGB)",
            "Captured by SpaceX and released in the public domain.",
        ),
        Photo(
            "camera",
            'Gray-level "camera" image (512x512 grayscale, stored as grayscale)',
            "No copyright restrictions. CC0 by the photographer (Lav Varshney).",
        ),
    )
}

# Hand-placed coordinates read best one outline per line, so the formatter keeps out.
# fmt: off
# Rough outlines reused by two rocket edits: the rocket and the two launch towers.
ROCKET_BODY = polygon((258, 150), (272, 165), (278, 200), (282, 440), (300, 492), (222, 492),
                      (238, 440), (242, 200), (246, 165))
LEFT_TOWER = polygon((110, 145), (122, 150), (122, 230), (134, 470), (70, 470), (96, 230),
                     (104, 150))
RIGHT_TOWER = polygon((404, 145), (416, 150), (418, 230), (446, 485), (384, 485), (398, 230),
                      (400, 150))

EDITS: tuple[Edit, ...] = (
    Edit(
        photo="rocket",
        edit_type=0,
        original_prompt="a [rocket] standing between two [towers] at dusk",
        editing_prompt="a [lighthouse] standing between two [palm trees] at dusk",
        editing_instruction="Turn the rocket into a lighthouse and the towers into palm trees",
        blended_word="rocket lighthouse",
        mask=(ROCKET_BODY, LEFT_TOWER, RIGHT_TOWER),
    ),
    Edit(
        photo="camera",
        edit_type=1,
        original_prompt="a black and white photo of a man looking through a [camera] on a tripod",
        editing_prompt="a black and white photo of a man looking through a [telescope] on a tripod",
        editing_instruction="Replace the camera with a telescope",
        blended_word="camera telescope",
        mask=(ellipse(290, 165, 50, 36), rect(280, 190, 310, 215)),
    ),
    Edit(
        photo="chelsea",
        edit_type=2,
        original_prompt="a close-up photo of a [tabby cat]",
        editing_prompt="a close-up photo of a [tabby cat with a ladybug on its nose]",
        editing_instruction="Put a ladybug on the cat's nose",
        blended_word="cat ladybug",
        mask=(ellipse(318, 412, 60, 40),),
    ),
    Edit(
        photo="astronaut",
        edit_type=3,
        original_prompt="a smiling astronaut in an orange spacesuit next to a [space shuttle model]",
        editing_prompt="a smiling astronaut in an orange spacesuit next to a [plain grey wall]",
        editing_instruction="Remove the space shuttle model",
        blended_word="shuttle wall",
        mask=(
            polygon((384, 0), (446, 0), (446, 80), (462, 215), (444, 236), (444, 292),
                    (362, 292), (362, 236), (348, 222), (372, 80)),
        ),
    ),
    Edit(
        photo="coffee",
        edit_type=4,
        original_prompt="a red cup of [espresso] on a saucer with a spoon",
        editing_prompt="a red cup of [cappuccino with heart latte art] on a saucer with a spoon",
        editing_instruction="Make the coffee a cappuccino with heart latte art",
        blended_word="espresso cappuccino",
        mask=(ellipse(240, 182, 112, 64),),
    ),
    Edit(
        photo="chelsea",
        edit_type=6,
        original_prompt="a close-up photo of a tabby cat with [green] eyes",
        editing_prompt="a close-up photo of a tabby cat with [blue] eyes",
        editing_instruction="Make the cat's eyes blue",
        blended_word="eyes eyes",
        mask=(ellipse(165, 195, 68, 56), ellipse(415, 225, 48, 52)),
    ),
    Edit(
        photo="coffee",
        edit_type=7,
        original_prompt="a red cup of coffee on a saucer with a [metal] spoon",
        editing_prompt="a red cup of coffee on a saucer with a [wooden] spoon",
        editing_instruction="Make the spoon out of wood",
        blended_word="spoon spoon",
        mask=(
            polygon((386, 86), (414, 96), (402, 160), (378, 262), (362, 310), (338, 310),
                    (350, 250), (374, 150)),
            ellipse(340, 362, 54, 54),
        ),
    ),
    Edit(
        photo="rocket",
        edit_type=8,
        original_prompt="a rocket on a launch pad under a [blue evening] sky",
        editing_prompt="a rocket on a launch pad under a [fiery sunset] sky",
        editing_instruction="Change the sky to a fiery sunset",
        blended_word="sky sky",
        mask=(
            rect(0, 0, 511, 445),
            cut(ROCKET_BODY),
            cut(LEFT_TOWER),
            cut(RIGHT_TOWER),
        ),
    ),
    Edit(
        photo="camera",
        edit_type=8,
        original_prompt="a black and white photo of a man filming in front of a [city skyline]",
        editing_prompt="a black and white photo of a man filming in front of [snowy mountains]",
        editing_instruction="Put snowy mountains behind the man",
        blended_word="skyline mountains",
        mask=(
            rect(0, 0, 511, 236),
            polygon((0, 255), (35, 200), (70, 152), (105, 128), (135, 118), (158, 112), (162, 94),
                    (174, 78), (200, 68), (238, 72), (260, 88), (268, 106), (264, 134), (324, 134),
                    (334, 170), (334, 200), (302, 208), (302, 242), subtract=True),
        ),
    ),
    Edit(
        photo="astronaut",
        edit_type=9,
        original_prompt="a [photo] of a smiling astronaut in an orange spacesuit",
        editing_prompt="a [pop art painting] of a smiling astronaut in an orange spacesuit",
        editing_instruction="Make it a pop art painting",
        blended_word="",
        mask=(FULL,),
    ),
)
# fmt: on


def sample_id(index: int, edit: Edit) -> str:
    """PIE-Bench-style 12-digit id: the edit type, then the edit's position."""
    return f"{edit.edit_type}{index:011d}"


def image_path(index: int, edit: Edit) -> str:
    """``<type>_<type name>/<id>.jpg``, mirroring PIE-Bench's per-type folders."""
    folder = f"{edit.edit_type}_{EDIT_TYPES[edit.edit_type].replace(' ', '_')}"
    return f"{folder}/{sample_id(index, edit)}.jpg"


def _shape_pixels(shape: Shape, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices covered by one shape, clipped to ``size``."""
    if shape.kind == "ellipse":
        cx, cy, rx, ry = shape.params
        return draw.ellipse(cy, cx, ry, rx, shape=size)
    if shape.kind == "polygon":
        xs, ys = zip(*shape.params, strict=True)
        return draw.polygon(ys, xs, shape=size)
    if shape.kind == "rect":
        x0, y0, x1, y1 = shape.params
        return draw.rectangle((y0, x0), end=(y1, x1), shape=size)
    if shape.kind == "full":
        rows, cols = np.indices(size)
        return rows.ravel(), cols.ravel()
    raise ValueError(f"unknown mask shape {shape.kind!r}")


def draw_mask(shapes: Sequence[Shape], size: tuple[int, int] = MASK_SIZE) -> np.ndarray:
    """Rasterise shapes in order (union, minus the ``subtract`` ones) into a uint8 mask."""
    mask = np.zeros(size, dtype=np.uint8)
    for shape in shapes:
        rows, cols = _shape_pixels(shape, size)
        mask[rows, cols] = 0 if shape.subtract else 1
    return mask


def photo_image(name: str) -> Image.Image:
    """The original-size photo as a PIL image (grayscale photos stay mode ``L``)."""
    loader: Callable[[], np.ndarray] = getattr(skdata, name)
    return Image.fromarray(loader())


def mapping_entry(index: int, edit: Edit) -> dict[str, object]:
    """The ``mapping_file.json`` entry of one edit."""
    return {
        "image_path": image_path(index, edit),
        "original_prompt": edit.original_prompt,
        "editing_prompt": edit.editing_prompt,
        "editing_instruction": edit.editing_instruction,
        "editing_type_id": str(edit.edit_type),
        "blended_word": edit.blended_word,
        "mask": encode_rle(draw_mask(edit.mask)),
    }


def numbered_edits(copies: int = 1) -> list[tuple[int, Edit]]:
    """(index, edit) of every edit, the ten repeated ``copies`` times under new indices (ids)."""
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    return [(c * len(EDITS) + i, edit) for c in range(copies) for i, edit in enumerate(EDITS)]


def build_mapping(copies: int = 1) -> dict[str, dict[str, object]]:
    """All entries keyed by id, in id order."""
    entries = {sample_id(i, edit): mapping_entry(i, edit) for i, edit in numbered_edits(copies)}
    return dict(sorted(entries.items()))


def render_mapping(mapping: dict[str, dict[str, object]]) -> str:
    """JSON with one entry per line: valid for any reader, yet diffable (masks stay inline)."""
    lines = [f"  {json.dumps(key)}: {json.dumps(entry)}" for key, entry in mapping.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def render_readme(copies: int = 1) -> str:
    """The folder's README: what it is, each photo's source and licence, how to rebuild it."""
    edits = numbered_edits(copies)
    lines = [
        f"# PIE-Bench sample ({len(edits)} edits)",
        "",
        "A small stand-in for PIE-Bench in its exact format (`mapping_file.json` +",
        "`annotation_images/`), for tests and smoke runs. Prompts and masks are hand-made;",
        "masks are drawn on the prepared 512x512 image (centre crop, then resize).",
        "",
        "Made by `python -m piebench.data.sample_benchmark` (source of truth:",
        "`piebench/data/sample_benchmark.py`); do not edit the files by hand.",
        "",
        "## Images",
        "",
        "All photos are the sample data shipped with scikit-image (`skimage.data`), stored",
        f"as JPEG (quality {JPEG_QUALITY}) at their original size. Licence facts are quoted",
        "from each `skimage.data.<name>` docstring.",
        "",
    ]
    lines += [f"- `{p.name}`: {p.description}. {p.licence}" for p in PHOTOS.values()]
    lines += ["", "## Edits", "", "| id | type | image | photo |", "| --- | --- | --- | --- |"]
    for i, edit in edits:
        kind = EDIT_TYPES[edit.edit_type]
        lines.append(f"| {sample_id(i, edit)} | {kind} | {image_path(i, edit)} | {edit.photo} |")
    return "\n".join(lines) + "\n"


def write_images(out_dir: Path, copies: int = 1) -> None:
    """Save each edit's source photo as a JPEG under ``annotation_images/``."""
    for i, edit in numbered_edits(copies):
        target = out_dir / IMAGE_DIR / image_path(i, edit)
        target.parent.mkdir(parents=True, exist_ok=True)
        photo_image(edit.photo).save(target, format="JPEG", quality=JPEG_QUALITY)


def build(out_dir: Path, copies: int = 1) -> None:
    """Write the whole sample benchmark (images, mapping file, README) into ``out_dir``;
    ``copies`` > 1 repeats the ten edits under new ids (enough samples to time large batches)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_images(out_dir, copies)
    (out_dir / MAPPING_FILE).write_text(render_mapping(build_mapping(copies)), encoding="utf-8")
    (out_dir / README_FILE).write_text(render_readme(copies), encoding="utf-8")
    logger.info("wrote %d sample edits to %s", len(EDITS) * copies, out_dir)


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry: ``python -m piebench.data.sample_benchmark [out_dir] [--copies N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=SAMPLE_ROOT)
    parser.add_argument(
        "--copies", type=int, default=1, help="repeat the ten edits N times under new ids"
    )
    args = parser.parse_args(argv)
    if args.copies < 1:
        parser.error(f"--copies must be >= 1, got {args.copies}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build(args.out_dir, args.copies)


if __name__ == "__main__":
    main()
