"""Evaluation suite: composed scenarios with exact ground truth, clue matching, baselines, throughput."""
