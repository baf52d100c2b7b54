"""A camera's view: is it still the picture its zones were drawn on (pure check, worker edge)."""
