# Types of the C++ binding (python/src/runtime_module.cc).
from typing import Any

Shape = list[int | str]

class Model:
    inputs: list[tuple[str, Shape, str]]
    outputs: list[tuple[str, Shape, str]]
    manifest_json: str
    num_threads: int
    device_type: int
    device_id: int
    num_vms: int
    def run(
        self, named_inputs: list[tuple[str, Any]], outputs_to_host: bool = True
    ) -> list[Any]: ...

def load(
    path: str,
    device_type: int,
    device_id: int,
    num_threads: int,
    max_concurrency: int = 0,
    fail_when_busy: bool = False,
    idle_timeout_ms: int = ...,
) -> Model: ...
def read_manifest(path: str) -> str: ...
def copy_tensor(capsule: Any, device_type: int, device_id: int = 0) -> Any: ...
def version() -> str: ...
