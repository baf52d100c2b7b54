"""Camera health: the per-source monitor (connects, frames, failures) and its push to the review service."""
