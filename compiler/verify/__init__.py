"""`ember verify`: an artifact's outputs against ONNX Runtime, and the first node that diverges."""
