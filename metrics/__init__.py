"""PIE-Bench metrics, one module per metric family."""
