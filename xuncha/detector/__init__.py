"""Detectors: `onnx` (Ultralytics and YOLOX ONNX exports), `cards` (model cards, `load_detector`),
`cli` (`xuncha detect`, `xuncha models`). Import the module you need; this package stays light."""
