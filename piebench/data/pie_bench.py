"""PIE-Bench loader: ``annotation_images/`` + ``mapping_file.json`` into typed samples.

The mapping file holds ``{id: {image_path, original_prompt, editing_prompt,
editing_instruction, editing_type_id, blended_word, mask}}``. Prompts mark the edited words
with ``[...]``; the brackets are stripped before use, as the reference does for editing and
scoring. Samples come back sorted by id so every run sees the same order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import numpy as np

from piebench.data.errors import BenchmarkError, SampleError
from piebench.data.images import load_image
from piebench.data.rle import MaskDecodeError, decode_rle, rle_quirks

EDIT_TYPES: dict[int, str] = {
    0: "random",
    1: "change object",
    2: "add object",
    3: "delete object",
    4: "change content",
    5: "change pose",
    6: "change color",
    7: "change material",
    8: "change background",
    9: "change style",
}
MAPPING_FILE = "mapping_file.json"
IMAGE_DIR = "annotation_images"
MASK_SIZE = (512, 512)
# The bundled sample benchmark (built by ``sample_benchmark``, which needs scikit-image; reading
# it does not).
SAMPLE_ROOT: Path = Path(__file__).resolve().parent / "sample"
T = TypeVar("T")
REQUIRED_FIELDS = ("image_path", "original_prompt", "editing_prompt", "editing_type_id", "mask")


def strip_brackets(prompt: str) -> str:
    """Remove PIE-Bench's ``[`` ``]`` edit marks, keeping the words inside."""
    return prompt.replace("[", "").replace("]", "")


def parse_blended_word(text: str) -> tuple[tuple[str, str] | None, tuple[str, ...]]:
    """``(source word, target word)`` from a ``blended_word`` entry, plus warnings.

    The reference splits on single spaces and uses items 0 and 1, so an entry of more than two
    words is used by its first two (with a warning, not dropped). A single word would crash the
    reference; we use it as both the source and the target word, with a warning. Empty: None.
    """
    if not text:
        return None, ()
    words = text.split(" ")
    if len(words) == 2:
        return (words[0], words[1]), ()
    if len(words) > 2:
        used = (words[0], words[1])
        note = f"blended_word {text!r} has {len(words)} words; used the first two {used}"
    else:
        used = (words[0], words[0])
        note = f"blended_word {text!r} has one word; used it as source and target word"
    return used, (note,)


@dataclass(frozen=True)
class Sample:
    """One PIE-Bench edit. ``source_prompt``/``target_prompt`` are the bracket-free prompts."""

    id: str
    root: Path
    image_path: str
    original_prompt: str
    editing_prompt: str
    editing_instruction: str
    edit_type: int
    blended_words: tuple[str, str] | None
    mask_rle: tuple[int, ...] = field(repr=False)
    warnings: tuple[str, ...] = ()  # recorded with the sample's result (e.g. blended_word use)

    @property
    def source_prompt(self) -> str:
        return strip_brackets(self.original_prompt)

    @property
    def target_prompt(self) -> str:
        return strip_brackets(self.editing_prompt)

    @property
    def image_file(self) -> Path:
        return self.root / IMAGE_DIR / self.image_path

    def load_image(self, resolution: int = 512, fit: str = "centre_crop") -> np.ndarray:
        """The prepared (resolution, resolution, 3) uint8 source image (``fit``: how a
        non-square or non-512 file is brought to size, ``piebench.data.images``)."""
        return load_image(self.image_file, self.id, resolution, fit)

    def mask(self, border: bool = True) -> np.ndarray:
        """The (512, 512) uint8 edit mask, 1 = edited region (border forced to 1 by default)."""
        try:
            return decode_rle(self.mask_rle, MASK_SIZE, border=border)
        except MaskDecodeError as err:
            raise SampleError(self.id, "mask", str(err)) from err

    @classmethod
    def from_entry(cls, sample_id: str, entry: object, root: Path) -> Sample:
        """Validate one mapping-file entry; raises ``SampleError`` naming the bad field."""
        if not isinstance(entry, dict):
            raise SampleError(sample_id, "entry", f"expected an object, got {type(entry).__name__}")
        for name in REQUIRED_FIELDS:
            if name not in entry:
                raise SampleError(sample_id, name, "missing field")
        type_id = str(entry["editing_type_id"])
        if not type_id.isdigit() or int(type_id) not in EDIT_TYPES:
            raise SampleError(sample_id, "editing_type_id", f"unknown edit type {type_id!r}")
        blended_words, warnings = parse_blended_word(str(entry.get("blended_word", "") or ""))
        for name in ("image_path", "original_prompt", "editing_prompt"):
            if not isinstance(entry[name], str) or not entry[name].strip():
                raise SampleError(sample_id, name, "expected a non-empty string")
        relative = PurePosixPath(entry["image_path"])
        if relative.is_absolute() or ".." in relative.parts or "\\" in entry["image_path"]:
            raise SampleError(
                sample_id,
                "image_path",
                f"{entry['image_path']!r} must be a relative path inside {IMAGE_DIR}/ without "
                "'..' (the edit is written to the same path inside the run folder)",
            )
        mask = entry["mask"]
        if not isinstance(mask, list):
            raise SampleError(sample_id, "mask", "expected a run-length list")
        try:  # decoded now, so a bad mask fails the sample before any compute is spent on it
            decode_rle(mask, MASK_SIZE)
        except MaskDecodeError as err:
            raise SampleError(sample_id, "mask", str(err)) from err
        warnings = (*warnings, *rle_quirks(mask, MASK_SIZE))
        return cls(
            id=sample_id,
            root=root,
            image_path=str(entry["image_path"]),
            original_prompt=str(entry["original_prompt"]),
            editing_prompt=str(entry["editing_prompt"]),
            editing_instruction=str(entry.get("editing_instruction", "")),
            edit_type=int(type_id),
            blended_words=blended_words,
            mask_rle=tuple(mask),
            warnings=warnings,
        )


@dataclass(frozen=True)
class Benchmark:
    """The selected samples plus the entries that failed validation (recorded, not fatal)."""

    root: Path
    samples: list[Sample]
    invalid: list[SampleError]


def parse_edit_types(types: Iterable[object] | None) -> set[int] | None:
    """Normalise an edit-type selection (ints or strings); unknown types raise with the valid list."""
    if types is None:
        return None
    if isinstance(types, str | int):  # data.types=3 or data.types=abc: one value, not a list
        types = [types]
    chosen = set()
    for value in types:
        text = str(value).strip()
        if not text.isdigit() or int(text) not in EDIT_TYPES:
            valid = ", ".join(f"{k} ({v})" for k, v in EDIT_TYPES.items())
            raise BenchmarkError(f"unknown edit type {value!r}; valid types: {valid}")
        chosen.add(int(text))
    return chosen


def _edit_type_of(item: Sample | SampleError, entry: object) -> int | None:
    """Edit type of a sample, or of an invalid entry when its type field is readable."""
    if isinstance(item, Sample):
        return item.edit_type
    raw = str(entry.get("editing_type_id", "")) if isinstance(entry, dict) else ""
    return int(raw) if raw.isdigit() else None


def shard_of(items: Sequence[T], shard: int, num_shards: int) -> list[T]:
    """Shard ``shard`` of ``num_shards`` of an id-sorted selection: every ``num_shards``-th item
    from position ``shard``. Deterministic, disjoint, and together the whole selection; dealing
    round-robin (not in blocks) mixes the edit types, whose ids are contiguous, into every shard
    so shards take about the same time."""
    return list(items[shard::num_shards])


def first_users_of_image_paths(mapping: dict) -> dict[str, str]:
    """For each ``image_path`` of the mapping, the smallest id using it: the edit of a sample is
    saved under its image path, so a later sample sharing one is refused, not overwritten."""
    users: dict[str, str] = {}
    for sample_id in sorted(mapping):
        entry = mapping[sample_id]
        if isinstance(entry, dict) and isinstance(entry.get("image_path"), str):
            users.setdefault(str(entry["image_path"]), sample_id)
    return users


def load_configured(data: Mapping[str, Any]) -> Benchmark:
    """The samples a ``data.*`` config selects: ``root`` (the bundled sample when null), then
    ``types``, ``ids``, ``limit`` and this run's ``shard`` of ``num_shards``, as ``run`` edits
    them (``bench`` times its baseline on the same)."""
    return load_benchmark(
        data.get("root") or SAMPLE_ROOT,
        data.get("types"),
        data.get("ids"),
        data.get("limit"),
        int(data.get("shard", 0)),
        int(data.get("num_shards", 1)),
    )


def describe_selection(data: Mapping[str, Any]) -> str:
    """What ``load_configured`` selects, in one line: the benchmark (``sample`` for the bundled
    one) and the selection keys that are set, e.g. ``/data/PIE-Bench limit=40 shard=1/4``."""
    parts = [str(data.get("root") or "sample")]
    parts += [f"{key}={_plain(data[key])}" for key in ("types", "ids", "limit") if data.get(key)]
    if int(data.get("num_shards", 1)) > 1:
        parts.append(f"shard={data.get('shard', 0)}/{data['num_shards']}")
    return " ".join(parts)


def _plain(value: Any) -> str:
    """A config value as written on the command line: ``[0,1]``, not ``ListConfig`` repr."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        return str(value)
    return "[" + ",".join(str(item) for item in value) + "]"


def load_benchmark(
    root: str | Path,
    types: Iterable[object] | None = None,
    ids: Sequence[str] | None = None,
    limit: int | None = None,
    shard: int = 0,
    num_shards: int = 1,
) -> Benchmark:
    """Read ``root/mapping_file.json`` and select entries by id, by edit type, then the first
    ``limit`` (sorted by id), then shard ``shard`` of ``num_shards`` (``shard_of``). Entries that
    fail validation are returned in ``invalid`` so the run records them; they count toward
    ``limit`` and are sharded like any other selected entry."""
    if not 0 <= shard < num_shards:
        raise BenchmarkError(
            f"data.shard={shard} is outside 0..{num_shards - 1} (data.num_shards={num_shards})"
        )
    root = Path(root).expanduser()
    mapping_path = root / MAPPING_FILE
    if not root.is_dir():
        raise BenchmarkError(f"data.root={root} does not exist (or is not a folder)")
    if not mapping_path.is_file():
        raise BenchmarkError(
            f"no {MAPPING_FILE} in {root}: point data.root at a PIE-Bench folder holding "
            f"{MAPPING_FILE} and {IMAGE_DIR}/"
        )
    try:
        mapping = json.loads(mapping_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise BenchmarkError(f"{mapping_path} is not valid JSON: {err}") from err
    if not isinstance(mapping, dict):
        raise BenchmarkError(f"{mapping_path} must hold an object of id -> entry")
    wanted_types = parse_edit_types(types)
    if isinstance(ids, str | int):  # data.ids=000000000000: one id, not a list of characters
        ids = [ids]
    wanted_ids = {str(i) for i in ids} if ids else None
    if wanted_ids:
        unknown = sorted(wanted_ids - mapping.keys())
        if unknown:
            hint = (
                " (ids are 12-digit strings, e.g. data.ids=['000000000000'])"
                if any(isinstance(i, int) for i in ids)
                else ""
            )
            raise BenchmarkError(f"ids not in {mapping_path}: {', '.join(unknown[:10])}{hint}")
    selected: list[Sample | SampleError] = []
    first_user = first_users_of_image_paths(mapping)
    for sample_id in sorted(mapping):
        if wanted_ids is not None and sample_id not in wanted_ids:
            continue
        entry = mapping[sample_id]
        try:
            item: Sample | SampleError = Sample.from_entry(sample_id, entry, root)
        except SampleError as err:
            item = err
        if isinstance(item, Sample) and first_user[item.image_path] != sample_id:
            item = SampleError(
                sample_id,
                "image_path",
                f"{item.image_path!r} is also sample {first_user[item.image_path]}'s: the two "
                "edits would overwrite each other (that sample keeps it)",
            )
        edit_type = _edit_type_of(item, entry)
        if wanted_types is not None and edit_type not in wanted_types:
            continue
        if isinstance(item, SampleError):
            item.edit_type = edit_type
        selected.append(item)
    if limit is not None and limit >= 0:
        selected = selected[:limit]
    selected = shard_of(selected, shard, num_shards)
    samples = [s for s in selected if isinstance(s, Sample)]
    invalid = [s for s in selected if isinstance(s, SampleError)]
    return Benchmark(root=root, samples=samples, invalid=invalid)
