# Types of the C++ binding (python/src/runtime_module.cc).
from typing import Any

import numpy as np

Shape = list[int | str]

class Model:
    inputs: list[tuple[str, Shape, str]]
    outputs: list[tuple[str, Shape, str]]
    manifest_json: str
    num_threads: int
    def run(self, named_inputs: list[tuple[str, Any]]) -> list[np.ndarray]: ...

def load(path: str, device_type: int, device_id: int, num_threads: int) -> Model: ...
def read_manifest(path: str) -> str: ...
def version() -> str: ...
