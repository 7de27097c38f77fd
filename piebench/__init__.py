"""piebench: one harness to run and score text-guided image editing methods on PIE-Bench."""

__version__ = "0.1.0"
