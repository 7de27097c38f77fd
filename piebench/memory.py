"""Batch sizes that fit in memory: ``batch_size=auto`` and the out-of-memory rule.

``auto`` on CUDA: batches of one sample run until one goes through the model, and its peak
allocation above what was resident before it (the model) is that sample's cost; the batch size
for the rest of the run is the number of such samples that fit in 85 % of the memory then free
to PyTorch (``torch.cuda.mem_get_info`` plus PyTorch's own cached, unused blocks), capped at
``MAX_AUTO_BATCH``. The cost of a sample
grows with the method (4 UNet rows under P2P + CFG, NTI's gradients), resolution and dtype, and
measuring it covers all of them. On a CPU memory rarely binds and time grows with the rows, so
``auto`` means ``CPU_AUTO_BATCH``.

A batch that still runs out of memory is split in halves and each half retried (the runner);
a single sample that does not fit is recorded as failed.
"""

from __future__ import annotations

import torch

CPU_AUTO_BATCH = 4
MAX_AUTO_BATCH = 64
HEADROOM = 0.85


# How allocation failures read when they are not a torch.OutOfMemoryError: CPU allocators, and
# cuBLAS / cuDNN failing to get workspace (CUBLAS_STATUS_ALLOC_FAILED, CUDNN_STATUS_ALLOC_FAILED)
ALLOCATION_FAILURES = ("out of memory", "alloc_failed")


def is_out_of_memory(err: BaseException) -> bool:
    """True for an allocation failure of any device: retrying smaller may fit."""
    if isinstance(err, torch.OutOfMemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and any(words in text for words in ALLOCATION_FAILURES)


def is_device_failure(err: BaseException) -> bool:
    """True for an accelerator error after which the device is unusable (an illegal memory
    access, a device-side assert: ``torch.AcceleratorError``), allocation failures aside."""
    accelerator_error = getattr(torch, "AcceleratorError", None)  # torch >= 2.8
    return (
        accelerator_error is not None
        and isinstance(err, accelerator_error)
        and not is_out_of_memory(err)
    )


def fitting_batch_size(available_bytes: float, per_sample_bytes: float) -> int:
    """How many samples of ``per_sample_bytes`` fit in ``HEADROOM`` of ``available_bytes``
    (at least 1, at most ``MAX_AUTO_BATCH``)."""
    if per_sample_bytes <= 0:
        return MAX_AUTO_BATCH
    return max(1, min(MAX_AUTO_BATCH, int(HEADROOM * available_bytes // per_sample_bytes)))


def available_bytes(device: torch.device) -> float:
    """Memory PyTorch can still allocate on a CUDA device: free on the device plus the blocks
    its caching allocator holds unused."""
    free, _ = torch.cuda.mem_get_info(device)
    return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)


class AutoBatch:
    """The batch size of a run with ``batch_size=auto`` (see the module docstring).

    Use: ``size()`` before each batch; ``measure_start()`` / ``measure_end(n)`` around the
    first CUDA batch of one sample.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.chosen: int | None = None if device.type == "cuda" else CPU_AUTO_BATCH
        self._resident = 0

    def size(self) -> int:
        """1 until the first sample has been measured (CUDA), then the fitting size."""
        return self.chosen or 1

    def measure_start(self) -> None:
        if self.chosen is None:
            torch.cuda.reset_peak_memory_stats(self.device)
            self._resident = torch.cuda.memory_allocated(self.device)

    def measure_end(self, samples: int) -> None:
        """Set the size from the peak of the batch just run (``samples`` in it)."""
        if self.chosen is not None or samples < 1:
            return
        peak = torch.cuda.max_memory_allocated(self.device) - self._resident
        self.chosen = fitting_batch_size(available_bytes(self.device), peak / samples)
