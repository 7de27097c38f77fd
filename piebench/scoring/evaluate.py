"""Score one run folder with the PIE-Bench metrics: one row per sample, saved in its scores folder.

The flow per run: pick the samples (the run's records, or every benchmark image present in a
reference-tree folder), decode source / edited / mask, score them in batches with every
requested metric of the registry, write ``<scores folder>/scores_<profile>.csv`` (+ a JSON sidecar
with the metric profile and its settings, metric networks and harness version) and, when
``metrics.fid.enabled``, FID/KID per run and per edit type against the source images in
``<scores folder>/set_scores.csv``. Saved scores are reused only under the settings they were
computed with (``stale_reason``): the file name carries the profile, the sidecar its settings.

The scores folder (``scores_folder``) of one of our runs is the run folder itself; a folder of
the reference's output tree is someone else's (shared, often read-only), so its scores go to a
folder of ours under ``scores_dir`` instead and nothing is ever written into it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

import piebench
from piebench.atomic_files import atomic_path, write_json_atomic
from piebench.config_schema import ConfigError
from piebench.data.errors import BenchmarkError, SampleError
from piebench.data.pie_bench import EDIT_TYPES, MAPPING_FILE, SAMPLE_ROOT, Sample, load_benchmark
from piebench.device import resolve_device
from piebench.manifest import dataset_fingerprint
from piebench.metrics.fid import NETWORK as FID_NETWORK
from piebench.metrics.fid import (
    check_resize,
    fid_from_features,
    fid_weights_found,
    kid_from_features,
)
from piebench.metrics.networks import MetricNetworks
from piebench.metrics.profiles import MetricProfile, resolve_profile
from piebench.metrics.registry import DEFAULT_METRICS, METRICS, PairBatch
from piebench.metrics.timing import TIMING_COLUMNS
from piebench.scoring.freshness import scoring_state, state_difference
from piebench.scoring.runs import RunFolder, open_run, read_edited, unfinished_note

logger = logging.getLogger(__name__)

ID_COLUMNS: tuple[str, ...] = (
    "run",
    "method",
    "id",
    "image_path",
    "edit_type",
    "edit_type_name",
    "status",
    "error",
)
SET_SCORES_FILE = "set_scores.csv"
NO_EDITED_IMAGE = "no edited image in the reference tree"  # a reference tree's missing edit
DEFAULT_SCORES_DIR = Path("outputs/scores")  # conf/evaluate.yaml's scores_dir


def scores_folder(run: RunFolder, scores_dir: str | Path = DEFAULT_SCORES_DIR) -> Path:
    """Where a run's saved scores live: one of our runs' own folder (beside its records), or for
    a reference-tree folder (``records`` None: someone else's, maybe shared or read-only)
    ``<scores_dir>/<folder name>-<8 hex digits of the SHA-256 of its resolved path>``, readable
    and distinct for two reference folders of one name (every reference tree names its folders
    by method)."""
    if run.records is not None:
        return run.path
    digest = hashlib.sha256(str(run.path.resolve()).encode()).hexdigest()[:8]
    return Path(scores_dir).expanduser() / f"{run.path.name}-{digest}"


def scores_path(folder: str | Path, profile: str) -> Path:
    """The per-sample scores of a metric profile in a scores folder (``scores_folder``):
    ``<folder>/scores_<profile>.csv``."""
    return Path(folder) / f"scores_{profile}.csv"


def check_writable(run: RunFolder, folder: Path) -> None:
    """Fail before scoring, not after it, when ``run``'s scores could not be saved to ``folder``
    (made here when missing, and probed with a temporary file). A run of ours keeps its scores
    beside its records, in one place that ``table`` and ``report`` look up, rather than
    somewhere that depends on the folder's permissions of the day."""
    ours = folder == run.path
    try:
        if ours and not os.access(folder, os.W_OK):
            raise PermissionError(errno.EACCES, "not writable")
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        fix = (
            "a piebench run's scores are saved in its folder; make it writable or score a copy"
            if ours
            else "pass scores_dir=<a folder you can write>"
        )
        raise PermissionError(
            f"cannot save the scores of {run.run_name}: {folder} is not writable "
            f"({err.strerror or err}; {fix})"
        ) from None


def stale_reason(
    path: Path, profile: MetricProfile, names: Sequence[str], state: Mapping[str, Any]
) -> str | None:
    """Why the saved scores at ``path`` cannot stand for ``profile``, ``names`` and the run's
    ``state`` now (``current_state``; None: they can): missing file or sidecar, other settings
    (e.g. a file from before profiles existed, or of a custom profile redefined since), a run
    changed since or scored against another benchmark or selection, or missing metric columns."""
    sidecar = path.with_suffix(".json")
    if not path.is_file() or not sidecar.is_file():
        return "no saved scores"
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    saved = meta.get("metric_settings")
    if saved != profile.settings():
        return f"saved under other metric settings ({saved}, now {profile.settings()})"
    changed = state_difference(meta.get("run_state"), state)
    if changed:
        return changed
    missing = sorted(set(names) - set(pd.read_csv(path, nrows=0).columns))
    return f"saved scores lack {', '.join(missing)}" if missing else None


def current_state(
    run: RunFolder, data_root: str | Path | None, data_cfg: Mapping[str, Any]
) -> dict[str, Any]:
    """The state (``freshness.scoring_state``) a scoring of ``run`` would stand for now; logs
    a ``data_root`` other than the run's benchmark and how many benchmark images a
    reference-tree folder lacks (``evaluate_run`` with ``notes=False`` then stays quiet)."""
    root = benchmark_root(run, data_root, notes=True)
    return scoring_state(run, root, _select_samples(run, root, data_cfg, notes=True))


SELECTION_KEYS = ("types", "ids", "limit")


def selected_rows(frame: pd.DataFrame, run: RunFolder, data_cfg: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of a run's scores that ``data.types / ids / limit`` select (all without them):
    how ``table`` and ``report`` narrow what they show without scoring a subset over the saved
    scores of the whole run."""
    if all(data_cfg.get(key) is None for key in SELECTION_KEYS):
        return frame
    root = benchmark_root(run, data_cfg.get("root"), notes=False)  # collect logged them
    bench = load_benchmark(root, *(data_cfg.get(key) for key in SELECTION_KEYS))
    keep = {s.id for s in bench.samples} | {e.sample_id for e in bench.invalid}
    return frame[frame["id"].astype(str).isin(keep)].reset_index(drop=True)


def check_metrics_config(metrics_cfg: Mapping[str, Any]) -> None:
    """Check everything in ``metrics`` that needs no network (names, profile, batch size,
    device, FID switches), so ``run`` stops on a typo before hours of editing, not after."""
    metric_names(metrics_cfg)
    resolve_profile(metrics_cfg)
    size = metrics_cfg.get("batch_size", 16)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ConfigError(f"config key metrics.batch_size={size!r}: must be an integer >= 1")
    resolve_device(str(metrics_cfg.get("device", "auto")), "metrics.device")
    fid_cfg = metrics_cfg.get("fid") or {}
    enabled = str(fid_cfg.get("enabled", "auto")).lower()
    if enabled not in {"auto", "true", "false"}:
        raise ConfigError(
            f"config key metrics.fid.enabled={enabled}: valid values auto, true, false"
        )
    check_resize(fid_cfg.get("resize") or "tf_bilinear")


def metric_names(metrics_cfg: Mapping[str, Any]) -> list[str]:
    """The configured metric columns, validated against the registry (typos fail early)."""
    names = list(metrics_cfg.get("names") or DEFAULT_METRICS)
    for name in names:
        METRICS.get(name)
    return names


@dataclass
class _Pending:
    """Decoded pairs waiting for a batch: row indices, uint8 images, masks, prompts."""

    rows: list[int]
    source: list[np.ndarray]
    edited: list[np.ndarray]
    mask: list[np.ndarray]
    source_prompts: list[str]
    target_prompts: list[str]

    @classmethod
    def empty(cls) -> _Pending:
        return cls([], [], [], [], [], [])

    def to_batch(self, device: torch.device) -> PairBatch:
        def images(arrays: list[np.ndarray]) -> torch.Tensor:
            return (
                torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div(255).to(device)
            )

        mask = torch.from_numpy(np.stack(self.mask)).float()[:, None]
        size = self.source[0].shape[:2]
        if tuple(mask.shape[-2:]) != size:  # the runner worked below the benchmark's 512
            mask = F.interpolate(mask, size=size, mode="nearest")
        return PairBatch(
            images(self.source),
            images(self.edited),
            mask.to(device),
            self.source_prompts,
            self.target_prompts,
        )


def evaluate_run(
    run_dir: str | Path,
    data_root: str | Path | None = None,
    metrics_cfg: Mapping[str, Any] | None = None,
    data_cfg: Mapping[str, Any] | None = None,
    networks: MetricNetworks | None = None,
    save: bool = True,
    scores_dir: str | Path = DEFAULT_SCORES_DIR,
    notes: bool = True,
) -> pd.DataFrame:
    """Score every sample of one run folder; returns (and by default saves) one row per sample.

    Args:
        run_dir: a piebench run (``annotation_images/``, ``records.jsonl``, ``manifest.json``)
            or a reference-tree folder (``annotation_images/`` of 4-panel strips only).
        data_root: the PIE-Bench folder of the source images and masks; overrides
            ``data_cfg["root"]``; both None = the bundled sample benchmark.
        metrics_cfg: the ``metrics`` config group (``conf/metrics/parity.yaml``): ``profile``
            (with ``mode``, ``ssim.*`` and ``dino.antialias``; see ``metrics/profiles.py``),
            ``names``, ``batch_size``, ``device`` and the network paths. None = the ``parity``
            profile.
        data_cfg: the ``data`` config group (``types``, ``ids``, ``limit``, ``resolution``,
            ``mask_border``) selecting the samples; None = all samples, 512, border forced.
        networks: metric networks to reuse across runs (each loads once); None = new ones.
        save: write ``scores_<profile>.csv`` and its ``.json`` sidecar to the run's scores
            folder (``scores_folder``: the run folder, or for a reference-tree folder one
            under ``scores_dir``).
        scores_dir: where the scores of reference-tree folders are saved (relative paths from
            the working directory); our runs' are saved in their own folders.
        notes: log what ``current_state`` logs (a ``data_root`` of another mapping file than
            the run's benchmark; the count of benchmark images a reference-tree folder has no
            edited image for); False where ``current_state`` just did.

    Returns:
        A DataFrame with ``ID_COLUMNS`` (``status`` is ``ok``, ``failed`` = the method failed
        on the sample, or ``error`` = it could not be scored, e.g. a size mismatch; ``error``
        says why), one float column per metric (NaN when undefined: empty region, not
        scored) and the timing columns ``inversion_s, edit_s, total_s, peak_mem_mb`` from
        the records (NaN for reference folders).

    Raises:
        MissingWeightsError: a metric network is neither configured nor cached offline.
        UnknownNameError: a configured metric name is not in the registry.
        ValueError: an invalid metric profile (``profiles.resolve_profile``).
        PermissionError: ``save`` and the scores folder is not writable (checked first).
    """
    metrics_cfg = metrics_cfg or {}
    data_cfg = data_cfg or {}
    profile = resolve_profile(metrics_cfg)
    names = metric_names(metrics_cfg)
    networks = networks or MetricNetworks(metrics_cfg)
    run = open_run(run_dir)
    folder = scores_folder(run, scores_dir)
    if save:
        check_writable(run, folder)
    note = unfinished_note(run)
    if note:
        logger.warning(note)
    root = benchmark_root(run, data_root or data_cfg.get("root"), notes)
    samples = _select_samples(run, root, data_cfg, notes)
    state = scoring_state(run, root, samples)
    resolution = run_resolution(run.manifest, data_cfg)
    border = bool(data_cfg.get("mask_border", True))
    fid_enabled = fid_wanted(metrics_cfg.get("fid") or {})

    rows = [_base_row(run, sample_id, sample) for sample_id, sample in samples]
    features: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    batch_size = int(metrics_cfg.get("batch_size", 16))
    if rows:  # every missing network named at once, before the first batch
        needed = [METRICS.get(name).network for name in names]
        networks.require([n for n in needed if n] + (["inception"] if fid_enabled else []))
    started, scored = time.perf_counter(), 0
    for pending in _decoded_batches(run, samples, rows, resolution, border, batch_size):
        batch = pending.to_batch(networks.device)
        for name in names:
            values = METRICS.get(name).compute(networks, batch, profile).float().cpu().numpy()
            for row, value in zip(pending.rows, values):
                rows[row][name] = float(value)
        if fid_enabled:
            with torch.no_grad():
                pair = (
                    networks.inception(batch.source).cpu(),
                    networks.inception(batch.edited).cpu(),
                )
            features.update({row: (pair[0][i], pair[1][i]) for i, row in enumerate(pending.rows)})
        scored += len(pending.rows)
    elapsed = time.perf_counter() - started
    logger.info(
        "%s: scored %d/%d samples in %.1f s (%.2f samples/s, profile %s)",
        run.run_name,
        scored,
        len(rows),
        elapsed,
        scored / max(elapsed, 1e-9),
        profile.name,
    )
    frame = pd.DataFrame(rows, columns=[*ID_COLUMNS, *names, *TIMING_COLUMNS])
    frame["edit_type"] = frame["edit_type"].astype("Int64")  # whole numbers, NA where unknown
    frame[names] = frame[names].astype(float)
    if save:
        _save(run, folder, frame, profile, names, networks, (scored, elapsed), state)
        if fid_enabled:
            _write_csv(set_scores(frame, features, metrics_cfg), folder / SET_SCORES_FILE)
    return frame


def fid_wanted(fid_cfg: Mapping[str, Any]) -> bool:
    """``metrics.fid.enabled``: true, false, or auto (the default: only when the FID Inception
    weights are found; otherwise one log line says how to get them)."""
    enabled = fid_cfg.get("enabled", "auto")
    if str(enabled).lower() != "auto":
        return bool(enabled)
    if fid_weights_found(fid_cfg.get("inception_weights")):
        return True
    logger.info(
        "FID/KID not scored: no FID Inception weights found (set metrics.fid.inception_weights "
        "to pt_inception-2015-12-05-6726825d.pth, or metrics.fid.enabled=false to silence this)"
    )
    return False


def benchmark_root(run: RunFolder, root: str | Path | None, notes: bool = True) -> Path:
    """The benchmark a run is scored against: ``root`` when given, else the one its manifest
    records it was made from; a reference-tree folder, which records none, needs ``root``
    (scored against the bundled sample by default, every edit would pair with the wrong
    source or none); a folder of ours without a recorded benchmark: the bundled sample.

    PIE-Bench ids repeat across benchmarks (the bundled sample reuses them), so scoring a run
    against another benchmark than its own would pair its edits with the wrong sources. A given
    ``root`` whose mapping file differs from the recorded one is only warned about (``notes``):
    the same benchmark may have been copied and re-annotated on purpose."""
    recorded = run.manifest.get("data") or {}
    if root is not None:
        root = Path(root).expanduser()
        fingerprint = recorded.get("fingerprint")
        mapping_known = fingerprint and (root / MAPPING_FILE).is_file()
        if notes and mapping_known and dataset_fingerprint(root) != fingerprint:
            logger.warning(
                "%s was made from the benchmark at %s; data.root=%s has another mapping file, "
                "so its edits are scored against that benchmark's sources and masks",
                run.path, recorded.get("root"), root,
            )  # fmt: skip
        return root
    if not recorded.get("root"):
        if run.records is None:
            raise BenchmarkError(
                f"{run.path} is a folder of the reference's output tree, which records no "
                "benchmark: pass data.root=<the PIE-Bench folder its edits were made from>"
            )
        return SAMPLE_ROOT
    made_from = Path(str(recorded["root"]))
    if (made_from / MAPPING_FILE).is_file():
        return made_from
    if recorded.get("fingerprint") == dataset_fingerprint(SAMPLE_ROOT):
        return SAMPLE_ROOT  # the bundled sample of another installation
    raise BenchmarkError(
        f"{run.path} was made from the benchmark at {made_from}, which has no {MAPPING_FILE} "
        "here: pass data.root=<that benchmark's folder>"
    )


def _select_samples(
    run: RunFolder, root: Path, data_cfg: Mapping[str, Any], notes: bool
) -> list[tuple[str, Sample | SampleError | None]]:
    """(id, sample) pairs to score against the benchmark at ``root`` (``benchmark_root``);
    ``sample`` is None for a recorded id unknown to the benchmark. A reference-tree folder gets
    every selected entry: one the harness cannot read comes with its ``SampleError`` (a failed
    row naming the problem, never dropped), and ``_base_row`` fails those without an edited
    image, as a run's record of a failed sample does; ``notes``: warn with the counts."""
    bench = load_benchmark(root, *(data_cfg.get(key) for key in SELECTION_KEYS))
    by_id = {sample.id: sample for sample in bench.samples}
    if run.records is None and run.manifest:
        raise FileNotFoundError(
            f"{run.path}: no sample of this run has been edited yet (no records; a shard with "
            "no samples writes none): run the other shards, or the run, first"
        )
    if run.records is not None:
        # in id order (the benchmark's, and so by edit type), not the order samples finished in
        return [(sample_id, by_id.get(sample_id)) for sample_id in sorted(run.records.index)]
    if notes and bench.invalid:
        logger.warning(
            "%s: %d selected benchmark entries cannot be read (%s): they count as failed",
            run.path,
            len(bench.invalid),
            "; ".join(str(err) for err in bench.invalid[:3]),
        )
    present = [s for s in bench.samples if run.edited_file(s.id, s.image_path).is_file()]
    if not present:
        raise FileNotFoundError(
            f"{run.path}: none of the {len(bench.samples)} selected benchmark images has an edited "
            f"image (is data.root the benchmark these edits were made from?)"
        )
    if notes and len(present) < len(bench.samples):
        logger.warning(
            "%s: %d of %d benchmark images have no edited image: they count as failed",
            run.path,
            len(bench.samples) - len(present),
            len(bench.samples),
        )
    readable = [(sample.id, sample) for sample in bench.samples]
    unreadable = [(err.sample_id, err) for err in bench.invalid]
    return sorted([*readable, *unreadable], key=itemgetter(0))


def _base_row(
    run: RunFolder, sample_id: str, sample: Sample | SampleError | None
) -> dict[str, Any]:
    row: dict[str, Any] = {"run": run.run_name, "method": run.method, "id": sample_id}
    record = run.records.loc[sample_id].to_dict() if run.records is not None else {}
    row.update({column: record.get(column, np.nan) for column in TIMING_COLUMNS})
    if isinstance(sample, SampleError):  # a reference tree's entry the harness cannot read
        row.update(status="failed", error=str(sample), image_path=None, edit_type=sample.edit_type)
    elif sample is None:  # the run's failure record of an invalid entry, or an unknown id
        failed = record.get("status") == "failed"
        row.update(
            status="failed" if failed else "error",
            error=record.get("error") if failed else "id not in the selected benchmark samples",
            image_path=record.get("image_path"),
            edit_type=record.get("edit_type"),
        )
    else:
        row.update(
            image_path=sample.image_path, edit_type=sample.edit_type, status="ok", error=None
        )
        if record.get("status", "ok") != "ok":
            row.update(status="failed", error=record.get("error"))
        elif run.records is None and not run.edited_file(sample_id, sample.image_path).is_file():
            row.update(status="failed", error=NO_EDITED_IMAGE)
    row["edit_type_name"] = (
        EDIT_TYPES.get(row["edit_type"]) if row["edit_type"] is not None else None
    )
    return row


def _decoded_batches(
    run: RunFolder,
    samples: Sequence[tuple[str, Sample | SampleError | None]],
    rows: list[dict[str, Any]],
    resolution: int,
    border: bool,
    batch_size: int,
) -> Iterator[_Pending]:
    """Decode the scorable pairs into batches; a sample that fails to decode gets an error row."""
    pending = _Pending.empty()
    for index, (_, sample) in enumerate(samples):
        if not isinstance(sample, Sample) or rows[index]["status"] != "ok":
            continue
        try:
            source = sample.load_image(resolution)
            edited = read_edited(run.edited_file(sample.id, sample.image_path), source.shape[:2])
            mask = sample.mask(border=border)
        except (SampleError, ValueError, FileNotFoundError) as err:
            rows[index].update(status="error", error=str(err))
            logger.warning("%s: sample %s not scored: %s", run.run_name, sample.id, err)
            continue
        pending.rows.append(index)
        pending.source.append(source)
        pending.edited.append(edited)
        pending.mask.append(mask)
        pending.source_prompts.append(sample.source_prompt)
        pending.target_prompts.append(sample.target_prompt)
        if len(pending.rows) == batch_size:
            yield pending
            pending = _Pending.empty()
    if pending.rows:
        yield pending


def set_scores(
    frame: pd.DataFrame,
    features: Mapping[int, tuple[torch.Tensor, torch.Tensor]],
    metrics_cfg: Mapping[str, Any],
) -> pd.DataFrame:
    """FID / KID of edited vs source images, over the run and per edit type (edit type 9,
    "change style", is the one where a distribution distance says the most).

    ``features`` maps a row of ``frame`` to its (source, edited) feature vectors. Each row names
    the feature network and its resize mode (``fid_network``, ``fid_resize``), so tables use
    only values of the standard network (``load_set_scores``).
    """
    fid_cfg = metrics_cfg.get("fid") or {}
    groups: list[tuple[str, list[int]]] = [("all", sorted(features))]
    for edit_type in sorted(frame.loc[list(features), "edit_type"].unique()):
        rows = [r for r in sorted(features) if frame.at[r, "edit_type"] == edit_type]
        groups.append((f"edit_type={int(edit_type)}", rows))
    out = []
    for group, rows in groups:
        real = torch.stack([features[r][0] for r in rows]) if rows else torch.empty(0, 1)
        fake = torch.stack([features[r][1] for r in rows]) if rows else torch.empty(0, 1)
        kid_mean, kid_std = kid_from_features(
            real,
            fake,
            int(fid_cfg.get("kid_subsets", 100)),
            int(fid_cfg.get("kid_subset_size", 1000)),
        )
        out.append(
            {
                "run": frame["run"].iloc[0],
                "method": frame["method"].iloc[0],
                "group": group,
                "n": len(rows),
                "fid": fid_from_features(real, fake),
                "kid_mean": kid_mean,
                "kid_std": kid_std,
                "fid_network": FID_NETWORK,
                "fid_resize": str(fid_cfg.get("resize") or "tf_bilinear"),
            }
        )
    return pd.DataFrame(out)


def load_set_scores(folders: Sequence[str | Path]) -> pd.DataFrame:
    """The ``set_scores.csv`` rows of the standard FID network from every scores folder
    (``scores_folder``) that has one (files written with the former torchvision network are left
    out, with a log line)."""
    frames = []
    for folder in folders:
        path = Path(str(folder)).expanduser() / SET_SCORES_FILE
        if not path.is_file():
            continue
        sets = pd.read_csv(path, dtype={"run": str, "method": str})
        if "fid_network" not in sets.columns or not (sets["fid_network"] == FID_NETWORK).all():
            logger.info("%s: FID of another feature network, not shown (evaluate again)", path)
            continue
        frames.append(sets)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _save(
    run: RunFolder,
    folder: Path,
    frame: pd.DataFrame,
    profile: MetricProfile,
    names: list[str],
    networks: MetricNetworks,
    timing: tuple[int, float],
    state: dict[str, Any],
) -> None:
    """Write the scores and their sidecar to ``folder``, each atomically (a killed scoring leaves
    the old pair or a CSV whose sidecar, still the old one, marks it for scoring again). The
    sidecar names the run folder: a reference folder's scores lie elsewhere."""
    scored, elapsed = timing
    path = scores_path(folder, profile.name)
    _write_csv(frame, path)
    meta = {
        "run": run.run_name,
        "run_folder": str(run.path),
        "method": run.method,
        "metric_profile": profile.name,
        "metric_mode": profile.mode,
        "metric_settings": profile.settings(),
        "metrics": names,
        "networks": networks.describe(),
        "harness_version": piebench.__version__,
        "n_images": len(frame),
        "n_scored": scored,
        "samples_per_s": scored / max(elapsed, 1e-9),
        "model": model_name(run.manifest),
        "run_state": state,
    }
    write_json_atomic(meta, path.with_suffix(".json"))
    logger.info("%s: wrote %s", run.run_name, path)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as CSV atomically: a killed scoring never leaves half a file."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def model_name(manifest: Mapping[str, Any]) -> str:
    """The generator model of a run: ``manifest["model"]`` or ``config.model`` id, else unknown."""
    if isinstance(manifest.get("model"), str):
        return manifest["model"]
    model_cfg = (manifest.get("config") or {}).get("model") or {}
    for key in ("id", "pretrained", "path", "name", "kind"):
        if model_cfg.get(key):
            return str(model_cfg[key])
    return "unknown"


def run_resolution(manifest: Mapping[str, Any], data_cfg: Mapping[str, Any]) -> int:
    """Size the sources are prepared at: the one the run recorded (a piebench run's manifest),
    else ``data.resolution`` (reference-tree folders: 512)."""
    recorded = (manifest.get("data") or {}).get("resolution")
    return int(recorded if recorded else data_cfg.get("resolution", 512))
