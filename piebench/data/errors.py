"""Errors raised for bad benchmark input, each naming the sample and the field at fault."""

from __future__ import annotations


class BenchmarkError(RuntimeError):
    """The benchmark as a whole cannot be read (missing folder or mapping file, bad selection)."""


class SampleError(ValueError):
    """One sample cannot be used; the run records it as failed and goes on. ``edit_type``: the
    entry's edit type where readable (set by the benchmark loader), so the failure counts in
    its edit type's row of the tables."""

    def __init__(self, sample_id: str, field: str, problem: str) -> None:
        self.sample_id, self.field, self.problem = sample_id, field, problem
        self.edit_type: int | None = None
        super().__init__(f"sample {sample_id}: {field}: {problem}")
