"""The per-camera pipeline the worker and the benchmarks share: one sample's trip through the stages."""
