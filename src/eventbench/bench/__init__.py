"""EventBench bench."""
