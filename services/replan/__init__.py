"""Batch replanning of a whole day: allocation, picking waves, outputs and the report."""
