"""Example models built in code (the demo's, the tests') and ONNX Runtime as their reference."""
