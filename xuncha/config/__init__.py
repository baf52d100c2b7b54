"""The worker's configuration file (`worker.py`): cameras, their zone sets, detectors, broker and storage.

Reading YAML with errors that name the file and field is `xuncha.yamlfile`, a room below every stage."""
