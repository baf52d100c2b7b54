"""Errors raised by frame sources; messages name the camera and never carry credentials."""


class StreamError(RuntimeError):
    """A camera's source cannot be opened or decoded."""
