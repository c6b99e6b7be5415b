"""EventBench train."""
