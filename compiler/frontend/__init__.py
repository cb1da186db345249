"""ONNX front end: read the file, check it, describe its signature, import it into Relax."""
