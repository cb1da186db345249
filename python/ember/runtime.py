"""The runtime facade: `ember.load` and `Model`, over the C++ runtime's binding."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from . import _runtime
from .errors import InputError

Dim = int | str


@dataclass(frozen=True)
class TensorInfo:
    """Name, shape (a symbolic dimension is its name, e.g. ``"batch"``) and dtype."""

    name: str
    shape: tuple[Dim, ...]
    dtype: str


_DEVICE_TYPES = {"cpu": 1, "cuda": 2}


def _parse_device(device: str) -> tuple[int, int]:
    kind, _, ordinal = device.partition(":")
    if kind not in _DEVICE_TYPES or (ordinal and not ordinal.isdigit()):
        raise InputError(f"unknown device '{device}' (expected 'cpu', 'cuda' or 'cuda:N')")
    return _DEVICE_TYPES[kind], int(ordinal or 0)


def load(
    path: str | os.PathLike[str],
    device: str = "cpu",
    threads: int | None = None,
    max_concurrency: int | None = None,
    fail_when_busy: bool = False,
    idle_timeout: float | None = None,
) -> Model:
    """Load a compiled model.

    Parameters
    ----------
    path
        The artifact written by ``ember compile``.
    device
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    threads
        Worker threads per run; by default ``EMBER_NUM_THREADS`` or every usable core.
    max_concurrency
        Runs in flight at most; each holds its own workspace (intermediate tensors), so this
        bounds the memory a burst of requests takes. By default the usable cores.
    fail_when_busy
        When ``max_concurrency`` runs are in flight, a further `Model.run` waits for one to
        finish (False, the default) or raises `ember.errors.BusyError` at once (True).
    idle_timeout
        Seconds without a run after which the virtual machines beyond one are released and
        the workspace memory they cached is returned to the system; by default the runtime's
        ``EMBER_DEFAULT_IDLE_TIMEOUT_MS`` (5 s).
    """
    if threads is not None and threads < 1:
        raise InputError(f"threads must be at least 1, got {threads}")
    if max_concurrency is not None and max_concurrency < 1:
        raise InputError(f"max_concurrency must be at least 1, got {max_concurrency}")
    pool: dict[str, Any] = {
        "max_concurrency": max_concurrency or 0,
        "fail_when_busy": fail_when_busy,
    }
    if idle_timeout is not None:
        if not 0 <= idle_timeout <= 2**31 / 1000:
            raise InputError(f"idle_timeout must be 0 to 2147483 seconds, got {idle_timeout}")
        pool["idle_timeout_ms"] = round(idle_timeout * 1000)
    device_type, device_id = _parse_device(device)
    handle = _runtime.load(os.fspath(path), device_type, device_id, threads or 0, **pool)
    return Model(handle, os.fspath(path))


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and verify an artifact's manifest without loading its code."""
    return dict(json.loads(_runtime.read_manifest(os.fspath(path))))


def manifest_inputs(manifest: dict[str, Any]) -> list[TensorInfo]:
    """The inputs a manifest records, as `Model.inputs` gives them once loaded."""
    return [TensorInfo(i["name"], tuple(i["shape"]), i["dtype"]) for i in manifest["inputs"]]


class Model:
    """A loaded model. Safe to share between threads; `run` releases the GIL."""

    def __init__(self, handle: Any, path: str) -> None:
        self._handle = handle
        self.path = path

    @cached_property
    def inputs(self) -> list[TensorInfo]:
        """The inputs, in the order `run` takes them positionally."""
        return [TensorInfo(n, tuple(s), d) for n, s, d in self._handle.inputs]

    @cached_property
    def outputs(self) -> list[TensorInfo]:
        """The outputs, in the order `run` returns them."""
        return [TensorInfo(n, tuple(s), d) for n, s, d in self._handle.outputs]

    @cached_property
    def manifest(self) -> dict[str, Any]:
        """The artifact's manifest (target, versions, options, checksum)."""
        return dict(json.loads(self._handle.manifest_json))

    @property
    def threads(self) -> int:
        """Worker threads each run uses."""
        return int(self._handle.num_threads)

    def run(self, inputs: Mapping[str, Any] | Sequence[Any] | Any) -> list[Any]:
        """Run the model.

        Parameters
        ----------
        inputs
            A mapping from input name to array, a sequence of arrays in input order, or one
            array for a single-input model. Any object with ``__dlpack__`` is accepted. On a
            GPU model, host arrays are copied to the GPU; GPU tensors are used in place.

        Returns
        -------
        list
            The outputs, in the order of `outputs`: numpy arrays, except on a GPU model given
            only GPU tensors, where they stay on the GPU as `DeviceArray` (DLPack) objects.
        """
        named = self._name_inputs(inputs)
        to_host = self._handle.device_type == _DEVICE_TYPES["cpu"] or not all(
            _on_gpu(x) for _, x in named
        )
        capsules = [(name, _to_dlpack(name, x)) for name, x in named]
        results = self._handle.run(capsules, to_host)
        return [r if isinstance(r, np.ndarray) else DeviceArray(r, self._device) for r in results]

    @property
    def _device(self) -> tuple[int, int]:
        return int(self._handle.device_type), int(self._handle.device_id)

    def __call__(self, *args: Any, **kwargs: Any) -> list[Any]:
        """``model(x)``, ``model(x, y)`` or ``model(input=x)``."""
        if args and kwargs:
            raise InputError("pass inputs either by position or by name, not both")
        return self.run(dict(kwargs) if kwargs else list(args))

    def _name_inputs(self, inputs: Any) -> list[tuple[str, Any]]:
        if isinstance(inputs, Mapping):
            return [(str(k), v) for k, v in inputs.items()]
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != len(self.inputs):
                raise InputError(f"expected {len(self.inputs)} inputs, got {len(inputs)}")
            return [(spec.name, x) for spec, x in zip(self.inputs, inputs, strict=True)]
        if len(self.inputs) != 1:
            raise InputError(f"expected {len(self.inputs)} inputs, got 1 array")
        return [(self.inputs[0].name, inputs)]

    def __repr__(self) -> str:
        sig = ", ".join(f"{i.name}: {i.dtype}{list(i.shape)}" for i in self.inputs)
        return f"<ember.Model {self.path!r} ({sig})>"


class DeviceArray:
    """A model output left on the GPU; hand it to any DLPack consumer (``torch.from_dlpack``).

    It can be consumed once, like the capsule it wraps.
    """

    def __init__(self, capsule: Any, device: tuple[int, int]) -> None:
        self._capsule = capsule
        self._device = device

    def __dlpack__(self, stream: Any = None, max_version: Any = None, **_: Any) -> Any:
        """The DLPack capsule; outputs are complete when `run` returns, so `stream` is moot."""
        if self._capsule is None:
            raise InputError("this output was already consumed through DLPack")
        capsule, self._capsule = self._capsule, None
        return capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        """(device type, ordinal) as DLPack numbers them: (2, N) for cuda:N."""
        return self._device


def _on_gpu(value: Any) -> bool:
    device = getattr(value, "__dlpack_device__", None)
    return device is not None and int(device()[0]) == _DEVICE_TYPES["cuda"]


def _to_dlpack(name: str, value: Any) -> Any:
    """A DLPack capsule for `value`, made contiguous if it is a NumPy array or array-like."""
    if isinstance(value, np.ndarray) or not hasattr(value, "__dlpack__"):
        try:
            # Not np.ascontiguousarray: it turns a 0-d array (a scalar input) into shape (1,).
            value = np.asarray(value, order="C")
        except (TypeError, ValueError) as err:
            raise InputError(f"input '{name}': cannot convert to an array ({err})") from None
    try:
        return value.__dlpack__(max_version=(1, 0))
    except TypeError:  # producers that predate DLPack 1.0
        return value.__dlpack__()
    except BufferError as err:
        raise InputError(f"input '{name}': cannot be shared through DLPack ({err})") from None
