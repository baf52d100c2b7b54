"""Automatic rectification check (自动核查): the camera that found a case checks its place again.

`core` decides from the samples the worker takes anyway (pure); `desk` takes requests from the
camera's durable queue, keeps them where the camera's next owner finds them, and publishes results.
"""
