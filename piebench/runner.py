"""``python -m piebench run``: edit the selected PIE-Bench samples with one method.

Output, under ``<output_dir>/<run_name>/``: ``annotation_images/<image_path>`` (the reference's
tree, so its tools and ours score either), ``records.jsonl`` (one row per sample attempt),
``manifest.json`` and ``config.yaml``. A sample that fails is recorded with its error and the run
goes on; finished samples are skipped on a rerun unless ``rerun=true``.

Sharded (``data.shard=i data.num_shards=n``): shard i edits every n-th selected sample into the
same folder, appending to ``records.shard-<i>-of-<n>.jsonl`` and writing its own summary to
``manifest.shard-<i>-of-<n>.json``; ``manifest.json`` and ``config.yaml`` then hold only what all
shards share (the same bytes from each), so shards never clash.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import os
import resource
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from piebench.atomic_files import write_image_atomic, write_json_atomic, write_text_atomic
from piebench.data.errors import SampleError
from piebench.data.pie_bench import Benchmark, Sample, load_configured
from piebench.data.prefetch import load_in_order
from piebench.device import resolve_device
from piebench.manifest import (
    build_manifest,
    dataset_fingerprint,
    identity_differences,
    identity_hash,
    invocation,
    previous_invocations,
    run_identity,
)
from piebench.memory import AutoBatch, is_device_failure, is_out_of_memory
from piebench.methods import METHODS, Batch, EditMethod, Inversion
from piebench.methods.base import RECONSTRUCTION_PANEL
from piebench.models.loading import load_model, resolve_dtype
from piebench.models.sd import SDModel
from piebench.output_writer import OutputWriter
from piebench.records import RunRecords, SampleRecord, records_file
from piebench.run_lock import lock_file_name, other_split_holding, try_lock
from piebench.strips import reference_strip

log = logging.getLogger(__name__)

IMAGE_DIR = "annotation_images"


class RunError(RuntimeError):
    """The run cannot start (output folder unusable, config clash with an existing run)."""


class DeviceFailure(RunError):
    """The device failed mid-run (a CUDA error that leaves its context unusable): every later
    batch would fail too, so the run stops with the finished samples kept for a resume."""


@dataclass
class RunSummary:
    run_dir: Path
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)
    traceback_shown: bool = False

    def line(self) -> str:
        return (
            f"{self.run_dir}: {self.ok} edited, {self.skipped} already done, {self.failed} failed"
        )


@dataclass
class Prepared:
    sample: Sample
    image: np.ndarray


def sync_device(device: torch.device) -> None:
    """Wait for queued GPU work so wall-clock timings are real (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mem_mb(device: torch.device) -> float:
    """CUDA peak allocation of the current batch, or the process's peak RSS on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _release_memory(device: torch.device) -> None:
    """Give the failed batch's cached blocks back before the halves run."""
    if device.type == "cuda":
        torch.cuda.empty_cache()


def loader_workers(setting: int | str, device: torch.device) -> int:
    """``data.workers``: a number of reading processes, or ``auto``: 2 beside a GPU (reading
    then overlaps its work), none on a CPU run (they would compete with its compute threads)."""
    if setting == "auto":
        return 2 if device.type == "cuda" else 0
    return int(setting)


def output_path(sample: Sample, image_format: str) -> str:
    """Path of the edited image relative to the run dir, mirroring the benchmark's tree."""
    rel = Path(IMAGE_DIR) / sample.image_path
    return str(rel.with_suffix(".png")) if image_format == "png" else str(rel)


def prompt_warnings(model: SDModel, sample: Sample) -> list[str]:
    """A note for each prompt the text encoder truncates: its words past the 77-token window do
    not reach the edit, which a reader of the record (not only of the log) should know."""
    notes = []
    for name, prompt in (("source", sample.source_prompt), ("target", sample.target_prompt)):
        count = model.token_count(prompt)
        if count > model.max_tokens:
            notes.append(f"{name} prompt has {count} tokens, truncated to {model.max_tokens}")
    return notes


class Runner:
    """Owns one run directory: selection, resume, batching, failure isolation, records."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.config = OmegaConf.to_container(cfg, resolve=True)
        self.run_dir = Path(cfg.output_dir).expanduser() / str(cfg.run_name)
        self.summary = RunSummary(self.run_dir)
        self.shard = int(cfg.data.get("shard", 0))
        self.num_shards = int(cfg.data.get("num_shards", 1))
        self.batch_size: int | None = None  # None: batch_size=auto, chosen once the model is on
        if cfg.batch_size != "auto":
            self.batch_size = max(1, int(cfg.batch_size))
        self._lock = threading.Lock()

    # -- setup ------------------------------------------------------------------------------------
    def _check_resumable(self, identity: dict[str, Any]) -> None:
        """Refuse to resume a run folder made with other settings (before any model is loaded)."""
        manifest = self.run_dir / "manifest.json"
        if manifest.is_file() and not self.cfg.rerun:
            old = json.loads(manifest.read_text())
            if old.get("config_hash") not in (None, identity_hash(identity)):
                changed = identity_differences(old.get("identity") or {}, identity)
                raise RunError(
                    f"{self.run_dir} holds a run made with other settings "
                    f"({'; '.join(changed) or 'made by an older harness'}); resuming would mix "
                    "the two. Write elsewhere (output_dir=... or run_name=...) or redo every "
                    "sample (rerun=true)"
                )

    def _check_output_dir(self) -> None:
        """Fail before the model loads when the run folder cannot be made: its nearest existing
        ancestor must be a writable folder (``_prepare_dir`` then proves it with a write)."""
        existing = next(p for p in (self.run_dir, *self.run_dir.parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise RunError(
                f"output_dir {self.run_dir} is not writable: {existing} is not a writable folder"
            )

    def _prepare_dir(self) -> None:
        """Create the run folder (once the method is ready, so a run that cannot start leaves
        no empty folder behind) or check an existing one, and prove it writable."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.run_dir, prefix=".write-test.")
            os.close(fd)
            Path(probe).unlink()
        except OSError as err:
            raise RunError(
                f"output_dir {self.run_dir} is not writable: {err.strerror or err}"
            ) from None

    def _benchmark(self) -> Benchmark:
        return load_configured(self.cfg.data)

    # -- per-sample work --------------------------------------------------------------------------
    def _fail(
        self,
        records: RunRecords,
        sample_id: str,
        image_path: str,
        edit_type: int | None,
        error: str,
        trace: str | None = None,
    ) -> None:
        # a SampleError's message already starts with the id: the log and summary name it once
        shown = error.removeprefix(f"sample {sample_id}: ")
        log.warning("sample %s failed: %s", sample_id, shown)
        record = SampleRecord(
            sample_id,
            image_path,
            edit_type,
            self.cfg.method.name,
            "failed",
            error=error,
            traceback=trace,
        )
        with self._lock:  # the writer thread records too
            records.add(record)
            self.summary.failed += 1
            self.summary.failures.append(f"{sample_id}: {shown}")

    def _fail_items(self, records: RunRecords, items: Sequence[Prepared], error: str) -> None:
        for item in items:
            sample = item.sample
            self._fail(records, sample.id, sample.image_path, sample.edit_type, error)

    def _unexpected(self, records: RunRecords, sample: Sample, err: Exception) -> None:
        """An error that is not a named input problem is likely a bug: its traceback goes into
        the record, and onto the console the first time (later ones: one line each)."""
        trace = "".join(traceback.format_exception(err))
        if not self.summary.traceback_shown:
            log.error(
                "sample %s: unexpected error (likely a bug; the run goes on, fail_fast=true stops "
                "at the first one):\n%s",
                sample.id,
                trace,
            )
            self.summary.traceback_shown = True
        self._fail(
            records,
            sample.id,
            sample.image_path,
            sample.edit_type,
            f"unexpected {type(err).__name__}: {err}",
            trace,
        )

    def _batch(self, items: Sequence[Prepared]) -> Batch:
        return Batch.from_samples(
            [p.sample for p in items],
            [p.image for p in items],
            int(self.cfg.seed),
            reconstruct=self.cfg.task == "reconstruct",
            mask_border=bool(self.cfg.data.mask_border),
        )

    def _retry_one_by_one(
        self, method: EditMethod, records: RunRecords, items: Sequence[Prepared], error: str
    ) -> None:
        """After an unexpected error of a batch of several: each sample alone, so only the ones
        that fail by themselves are recorded as failed."""
        log.warning("batch failed (%s); retrying its %d samples one by one", error, len(items))
        for item in items:
            self._edit(method, records, [item])

    def _retry_in_halves(
        self, method: EditMethod, records: RunRecords, items: Sequence[Prepared]
    ) -> None:
        """After an out-of-memory error: the batch as two halves, and the rest of the run at
        the smaller size."""
        half = (len(items) + 1) // 2
        log.warning("batch of %d ran out of memory; retrying at %d", len(items), half)
        _release_memory(method.model.device)
        self.batch_size = min(self.batch_size or half, half)
        for part in (items[:half], items[half:]):
            self._edit(method, records, part)

    def _edit(self, method: EditMethod, records: RunRecords, items: Sequence[Prepared]) -> bool:
        """Invert + edit one batch. Out of memory: retry it as two halves, and keep the smaller
        size for the rest of the run; a device failure (``is_device_failure``): stop the run;
        another exception: retry its samples one by one. Returns whether the batch went through
        the model as one (its timing and peak memory are one batch's), NaN outputs included."""
        device = method.model.device
        torch.manual_seed(int(self.cfg.seed))
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        batch = self._batch(items)
        # how to retry a failed batch of several samples, once its traceback is gone
        retry: str | None = None
        rejected: list[Prepared] = []  # samples a named input problem rules out of the batch
        try:
            method.check(batch)
            sync_device(device)
            start = time.perf_counter()
            inversion = method.invert(batch)
            sync_device(device)
            inverted = time.perf_counter()
            if self.cfg.task == "reconstruct":
                latents = method.reconstruct(batch, inversion)
            else:
                latents = method.edit(batch, inversion)
            images = method.decode(latents, batch)
            beside = self._strip_panels(method, batch, inversion)
            sync_device(device)
            done = time.perf_counter()
        except SampleError as err:  # a named problem of the input: one line, the run goes on
            rejected = [i for i in items if i.sample.id == err.sample_id] or list(items)
            self._fail_items(records, rejected, str(err))
        except Exception as err:  # recorded or retried below, or re-raised (fail_fast, device)
            if self.cfg.fail_fast:
                raise
            if is_device_failure(err):
                ids = ", ".join(item.sample.id for item in items)
                raise DeviceFailure(
                    f"sample(s) {ids}: the device failed ({type(err).__name__}: {err}); its "
                    "state is unusable, so the run stops here. Finished samples are kept: run "
                    "the same command again to resume"
                ) from err
            if len(items) == 1:
                self._unexpected(records, items[0].sample, err)
                return False
            retry = "halves" if is_out_of_memory(err) else f"{type(err).__name__}: {err}"
        if rejected:  # the batch's other samples go on without it
            rest = [i for i in items if i not in rejected]
            if rest:
                self._edit(method, records, rest)
            return False
        if retry is not None:
            # outside the except block: the traceback's frames (the failed batch's activations)
            # are released, and a retry's own error is not chained to this one
            batch = inversion = latents = None
            if retry == "halves":
                self._retry_in_halves(method, records, items)
            else:
                self._retry_one_by_one(method, records, items, retry)
            return False
        finite = torch.isfinite(latents).flatten(1).all(dim=1).tolist()
        timing = {
            "inversion_s": (inverted - start) / len(items),
            "edit_s": (done - inverted) / len(items),
            "total_s": (done - start) / len(items),
            "peak_mem_mb": _peak_mem_mb(device),
            "batch_size": len(items),
        }
        jobs = []
        for index, (item, image, ok, notes) in enumerate(zip(items, images, finite, batch.notes)):
            sample = item.sample
            if not ok:
                self._fail(
                    records,
                    sample.id,
                    sample.image_path,
                    sample.edit_type,
                    "edited latents hold NaN or inf",
                )
                continue
            warnings = [*sample.warnings, *prompt_warnings(method.model, sample)]
            if self.cfg.image_format == "strip":
                panel = None if beside is None else beside[index]
                image = reference_strip(
                    sample.source_prompt, sample.target_prompt, item.image, panel, image
                )
            jobs.append(
                functools.partial(self._save, records, sample, image, (notes, warnings), timing)
            )
        self.writer.submit_batch(jobs)
        return True

    def _strip_panels(
        self, method: EditMethod, batch: Batch, inversion: Inversion
    ) -> np.ndarray | None:
        """``image_format=strip``: the decoded reconstruction panels the method left (timed
        with the edit: the reference decodes them too); None for a black panel or no strips."""
        panel = inversion.extras.get(RECONSTRUCTION_PANEL)
        if self.cfg.image_format != "strip" or panel is None:
            return None
        return method.decode(panel, batch)

    def _save(
        self,
        records: RunRecords,
        sample: Sample,
        image: np.ndarray,
        facts: tuple[dict[str, Any], list[str]],
        timing: dict[str, float],
    ) -> None:
        """Write one edited image, then its ok record with the method's notes and the sample's
        warnings (on the writer thread when enabled): a record never claims an image that is
        not on disk."""
        notes, warnings = facts
        rel = output_path(sample, str(self.cfg.image_format))
        try:
            write_image_atomic(image, self.run_dir / rel, int(self.cfg.jpeg_quality))
        except OSError as err:
            self._fail(
                records,
                sample.id,
                sample.image_path,
                sample.edit_type,
                f"cannot write {rel}: {err.strerror or err}",
            )
            return
        record = SampleRecord(
            sample.id,
            sample.image_path,
            sample.edit_type,
            self.cfg.method.name,
            "ok",
            output=rel,
            warnings=warnings,
            notes=notes,
            **timing,
        )
        with self._lock:
            records.add(record)
            self.summary.ok += 1

    # -- the run ----------------------------------------------------------------------------------
    def _shared_config(self) -> dict[str, Any]:
        """The resolved config without this shard's number: the same for every shard."""
        config = copy.deepcopy(self.config)
        if self.num_shards > 1:
            config["data"].pop("shard", None)
        return config

    def _shard_manifest_path(self) -> Path:
        return self.run_dir / f"manifest.shard-{self.shard}-of-{self.num_shards}.json"

    def _edit_all(self, method: EditMethod, records: RunRecords, todo: list[Sample]) -> None:
        """Edit ``todo`` in batches of ``self.batch_size``, which may shrink on the way (out of
        memory) or is chosen after the first sample (``batch_size=auto``). Images are read
        ahead by ``data.workers`` processes and saved by the writer thread."""
        auto = AutoBatch(method.model.device) if self.batch_size is None else None
        workers = loader_workers(self.cfg.data.get("workers", 0), method.model.device)
        loaded = load_in_order(todo, int(self.cfg.data.resolution), method.image_fit, workers)
        with tqdm(total=len(todo), unit="sample", disable=not self.cfg.progress) as bar:
            items: list[Prepared] = []
            consumed = 0
            for index, item in enumerate(loaded, start=1):
                consumed += 1
                sample = item.sample
                for warning in sample.warnings:
                    log.warning("sample %s: %s", sample.id, warning)
                if item.image is None:
                    self._fail(records, sample.id, sample.image_path, sample.edit_type, item.error)
                else:
                    items.append(Prepared(sample, item.image))
                if len(items) < (self.batch_size or auto.size()) and index < len(todo):
                    continue
                if items:
                    if auto is not None:
                        auto.measure_start()
                    ran = self._edit(method, records, items)
                    # a failed sample's partial peak says nothing: measure the next one
                    if auto is not None and self.batch_size is None and ran:
                        auto.measure_end(len(items))
                        if auto.chosen is not None:
                            log.info("batch_size=auto: %d samples per batch", auto.chosen)
                            self.batch_size = auto.chosen
                bar.update(consumed)
                items, consumed = [], 0

    def _open_records(self, benchmark: Benchmark) -> tuple[RunRecords, list[Sample]]:
        """This run's records (invalid benchmark entries recorded as failed) and the samples
        still to edit: all with ``rerun``, else those without a finished record."""
        records = RunRecords(self.run_dir, records_file(self.shard, self.num_shards))
        for path, number in records.corrupt_lines:
            log.warning(
                "%s line %d is not a record (cut short by a kill?); ignored, its sample reruns",
                path,
                number,
            )
        for err in benchmark.invalid:
            self._fail(records, err.sample_id, "", err.edit_type, str(err))
        todo = self._unfinished(benchmark, records)
        self.summary.skipped = len(benchmark.samples) - len(todo)
        return records, todo

    def _unfinished(self, benchmark: Benchmark, records: RunRecords) -> list[Sample]:
        """The selected samples to edit: all with ``rerun``, else those without a finished record."""
        return [
            s
            for s in benchmark.samples
            if self.cfg.rerun or not records.finished(s.id, self.run_dir)
        ]

    def run(self, model: SDModel | None = None) -> RunSummary:
        """Edit the selection; ``model``: an already loaded model of ``cfg.model`` (else loaded)."""
        benchmark = self._benchmark()
        if not benchmark.samples and not benchmark.invalid and self.num_shards == 1:
            data = self.cfg.data
            raise RunError(
                f"no samples selected from {benchmark.root} (data.types={data.types}, "
                f"data.ids={data.ids}, data.limit={data.limit}): nothing to edit"
            )
        config = self._shared_config()
        identity = run_identity(config, dataset_fingerprint(benchmark.root))
        self._check_resumable(identity)
        self._check_output_dir()
        method_class = METHODS.get(str(self.cfg.method.name))
        if self.cfg.task == "reconstruct" and not method_class.reconstructs:
            raise RunError(
                f"method {self.cfg.method.name} has no reconstruction (task=reconstruct)"
            )
        records = RunRecords(self.run_dir, records_file(self.shard, self.num_shards))
        with contextlib.ExitStack() as held:
            claimed = self.run_dir.is_dir()
            if claimed:  # another run may be editing it: refuse before loading any weights
                held.enter_context(self._claim_folder())
            # Missing weights or a bad method setting fail before a new run folder is made; a
            # finished run (or an empty shard) reads no weights at all.
            method = None
            if self._unfinished(benchmark, records):
                method = method_class(model or load_model(self.cfg.model), self.cfg.method)
            if not claimed:
                held.enter_context(self._claim_folder())
            return self._run_locked(benchmark, config, identity, method)

    def _claim_folder(self) -> IO[str]:
        """Make (or check) the writable run folder, then take this run's lock on it."""
        self._prepare_dir()
        return self._lock_folder()

    def _lock_folder(self) -> IO[str]:
        """This run's (shard's) lock on the folder, held while it edits; a ``RunError`` when
        another run holds it, or holds the folder split into another number of shards (whose
        shards would edit some of this one's samples too)."""
        part = f" (shard {self.shard} of {self.num_shards})" if self.num_shards > 1 else ""
        lock = try_lock(self.run_dir / lock_file_name(self.shard, self.num_shards))
        if lock is None:
            raise RunError(
                f"another run is editing {self.run_dir}{part}: wait for it to finish, or write "
                "elsewhere (output_dir=... or run_name=...)"
            )
        other = other_split_holding(self.run_dir, self.num_shards)
        if other is not None:
            lock.close()
            raise RunError(
                f"another run is editing {self.run_dir} split another way ({other} is held): "
                f"this run{part} would edit some of its samples too; run the shards of one "
                "folder with one data.num_shards"
            )
        return lock

    def _run_locked(
        self,
        benchmark: Benchmark,
        config: dict[str, Any],
        identity: dict[str, Any],
        method: EditMethod | None,
    ) -> RunSummary:
        """Edit this run's unfinished samples with ``method`` (None: all were finished when the
        run started) and record the invocation in the manifest."""
        records, todo = self._open_records(benchmark)
        if todo and method is None:
            raise RunError(
                f"{self.run_dir}: samples became unfinished while this run started (another run "
                "was writing there?): run it again"
            )
        device, dtype = resolve_device(self.cfg.model.device), resolve_dtype(self.cfg.model.dtype)
        manifest = build_manifest(config, device, dtype, benchmark.root, identity)
        sharded = self.num_shards > 1
        path = self._shard_manifest_path() if sharded else self.run_dir / "manifest.json"
        history = previous_invocations(path)
        if sharded:  # shard-specific facts (and the history) go to the shard's own file
            shard_manifest = {
                "shard": self.shard,
                "num_shards": self.num_shards,
                "device": manifest["device"],
                "numerics": manifest.pop("numerics"),
                "started": manifest.pop("started"),
            }
        else:
            manifest["invocations"] = history
        write_json_atomic(manifest, self.run_dir / "manifest.json")
        write_text_atomic(OmegaConf.to_yaml(OmegaConf.create(config)), self.run_dir / "config.yaml")
        log.info(
            "run %s%s: %d samples to edit, %d already done%s",
            self.run_dir,
            f" (shard {self.shard} of {self.num_shards})" if sharded else "",
            len(todo),
            self.summary.skipped,
            f", {len(benchmark.invalid)} unreadable (recorded as failed)"
            if benchmark.invalid
            else "",
        )
        if method is not None:
            with OutputWriter(background=bool(self.cfg.get("async_write", True))) as self.writer:
                self._edit_all(method, records, todo)
        target = shard_manifest if sharded else manifest
        target["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        target["summary"] = {
            "ok": self.summary.ok,
            "failed": self.summary.failed,
            "skipped": self.summary.skipped,
        }
        target["invocations"] = [*history, invocation(target, target["summary"])]
        statuses = [row["status"] for row in records.latest.values()]  # every shard's too
        target["folder_records"] = {s: statuses.count(s) for s in ("ok", "failed")}
        write_json_atomic(target, path)
        return self.summary
