"""Which ONNX nodes each binding and kernel came from, kept through the pass pipeline."""
