"""Errors raised for bad benchmark input, each naming the sample and the field at fault."""

from __future__ import annotations


class BenchmarkError(RuntimeError):
    """The benchmark as a whole cannot be read (missing folder or mapping file, bad selection)."""


class SampleError(ValueError):
    """One sample cannot be used; the run records it as failed and goes on."""

    def __init__(self, sample_id: str, field: str, problem: str) -> None:
        self.sample_id, self.field, self.problem = sample_id, field, problem
        super().__init__(f"sample {sample_id}: {field}: {problem}")
