"""Training a detector (`xuncha train`). Only `split` and `prepare` are importable without the [train] extra."""
