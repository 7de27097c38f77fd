"""The gallery's pictures: thumbnails, mask overlays and copies of the full images.

Everything lands inside the report folder so it stays viewable when moved or zipped:
``full/source/<image_path>`` (the benchmark image), ``full/mask/<id>.jpg`` (the 512x512 source
as the methods see it, edit region tinted), ``full/<run>/<image_path>`` (the run's edited file, its own suffix;
a reference-tree strip as it is) and ``thumbs/<size>/{source,mask,<run>}/<id>.jpg``. A file
newer than its sources is kept, so a second report over 700 samples only redoes what changed.
An image that cannot be read is logged and left without a link (the page says so); it never
stops the report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from piebench.data.errors import SampleError
from piebench.data.pie_bench import MAPPING_FILE, Sample
from piebench.report.files import href, is_fresh, place_copy, save_jpeg
from piebench.report.gather import ReportInputs, ScoredRun
from piebench.scoring.runs import read_edited

logger = logging.getLogger(__name__)

THUMB_QUALITY = 85
SOURCE_SIZE = 512  # the benchmark's working size: the mask's frame
MASK_TINT = np.array([255, 40, 40], dtype=np.float32)
MASK_ALPHA = 0.45
# Problems that mean "this picture cannot be shown", not "the report is broken".
UNREADABLE = (OSError, ValueError, SampleError)


@dataclass
class Gallery:
    """Links (relative to the report folder) per picture kind (``source``, ``mask`` or a run
    key) and sample id: ``{"thumb": ..., "full": ...}``; counts of thumbnails made and reused."""

    links: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    made: int = 0
    reused: int = 0

    def add(self, kind: str, sample_id: str, out: Path, thumb: Path, full: Path) -> None:
        self.links.setdefault(kind, {})[sample_id] = {
            "thumb": href(thumb, out),
            "full": href(full, out),
        }


def thumbnail(image: np.ndarray, size: int) -> np.ndarray:
    """(H,W,3) uint8 shrunk so its longer side is at most ``size`` (never enlarged)."""
    picture = Image.fromarray(image)
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    return np.asarray(picture)


def mask_overlay(source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The source (H,W,3) uint8 with the edit region (mask (H,W), 1 = edited) tinted red."""
    weight = MASK_ALPHA * (mask[..., None] > 0)
    tinted = source.astype(np.float32) * (1 - weight) + MASK_TINT * weight
    return np.round(tinted).astype(np.uint8)


def edited_picture(file: Path) -> np.ndarray:
    """An edited image as (H,W,3) uint8; a reference 4-panel strip gives its rightmost square."""
    with Image.open(file) as image:
        side = min(image.size)
    return read_edited(file, (side, side))


def build_gallery(inputs: ReportInputs, out: Path, thumb_size: int, mask_border: bool) -> Gallery:
    """Make (or reuse) every picture of the gallery and return their links."""
    gallery = Gallery()
    thumbs = out / "thumbs" / str(thumb_size)
    for sample in inputs.samples.values():
        _source_pictures(gallery, sample, out, thumbs, thumb_size, mask_border)
    for run in inputs.runs:
        for sample_id, row in run.scores.iterrows():
            if row["status"] != "failed":
                image_path = str(row["image_path"])
                _edit_picture(gallery, run, str(sample_id), image_path, out, thumbs, thumb_size)
    logger.info("report pictures: %d made, %d up to date", gallery.made, gallery.reused)
    return gallery


def _source_pictures(
    gallery: Gallery, sample: Sample, out: Path, thumbs: Path, size: int, border: bool
) -> None:
    full = out / "full" / "source" / sample.image_path
    overlay_full = out / "full" / "mask" / f"{sample.id}.jpg"
    thumb = thumbs / "source" / f"{sample.id}.jpg"
    overlay_thumb = thumbs / "mask" / f"{sample.id}.jpg"
    inputs = (sample.image_file, sample.root / MAPPING_FILE)
    try:
        place_copy(sample.image_file, full)
        if all(is_fresh(target, *inputs) for target in (overlay_full, thumb, overlay_thumb)):
            gallery.reused += 1
        else:
            source = sample.load_image(SOURCE_SIZE)
            overlay = mask_overlay(source, sample.mask(border=border))
            save_jpeg(overlay, overlay_full, THUMB_QUALITY)
            save_jpeg(thumbnail(source, size), thumb, THUMB_QUALITY)
            save_jpeg(thumbnail(overlay, size), overlay_thumb, THUMB_QUALITY)
            gallery.made += 1
    except UNREADABLE as err:
        logger.warning("report: source of sample %s not shown: %s", sample.id, err)
        return
    gallery.add("source", sample.id, out, thumb, full)
    gallery.add("mask", sample.id, out, overlay_thumb, overlay_full)


def _edit_picture(
    gallery: Gallery,
    run: ScoredRun,
    sample_id: str,
    image_path: str,
    out: Path,
    thumbs: Path,
    size: int,
) -> None:
    edited = run.folder.edited_file(sample_id, image_path)
    if not edited.is_file():
        return
    full = out / "full" / run.key / Path(image_path).with_suffix(edited.suffix)
    thumb = thumbs / run.key / f"{sample_id}.jpg"
    try:
        place_copy(edited, full)
        if is_fresh(thumb, edited):
            gallery.reused += 1
        else:
            save_jpeg(thumbnail(edited_picture(edited), size), thumb, THUMB_QUALITY)
            gallery.made += 1
    except UNREADABLE as err:
        logger.warning("report: %s edit of sample %s not shown: %s", run.key, sample_id, err)
        return
    gallery.add(run.key, sample_id, out, thumb, full)
