"""Every exception Ember raises, in one module (standard library only).

The codes are defined once, by `ember_status_t` in `ember/c_api.h` (which `ember::ErrorCode`
takes its values from); tests/runtime/test_error_codes.py checks that these classes and
docs/errors.md agree with it. The runtime's codes map onto classes one to one (see
`RUNTIME_ERROR_CLASSES`), so Python, C and C++ callers see the same categories.
"""

from __future__ import annotations


class EmberError(Exception):
    """Base class of every Ember error; `str(err)` is one line naming the thing at fault."""

    #: Stable numeric code, the same as `ember::ErrorCode` / `ember_status_t`.
    code: int = 7


class InputError(EmberError, ValueError):
    """A run-time input is wrong: unknown or missing name, dtype, shape, device or layout."""

    code = 1


class ArtifactNotFoundError(EmberError, FileNotFoundError):
    """The artifact file does not exist or cannot be read."""

    code = 2


class ArtifactError(EmberError):
    """The artifact is truncated, corrupted, or not an Ember artifact."""

    code = 3


class IncompatibleArtifactError(ArtifactError):
    """The artifact was built for another CPU, ISA extension, GPU or a newer runtime."""

    code = 4


class DeviceError(EmberError):
    """The requested device is missing or unusable."""

    code = 5


class ExecutionError(EmberError, RuntimeError):
    """A kernel or the virtual machine failed while running."""

    code = 6


class InternalError(EmberError, RuntimeError):
    """A bug in Ember or a broken installation."""

    code = 7


class ModelError(EmberError):
    """The ONNX model cannot be read: missing, empty, corrupt, or invalid."""

    code = 1


class UnsupportedModelError(ModelError):
    """The model is valid ONNX but uses something Ember cannot compile for the target."""


class TargetError(EmberError, ValueError):
    """An unknown or invalid target."""

    code = 1


class OptionError(EmberError, ValueError):
    """An invalid compile or run option (for example a malformed --input-shape)."""

    code = 1


class ToolchainError(EmberError):
    """An external tool Ember needs is missing: a cross compiler, nvcc, qemu-aarch64."""

    code = 7


class CompileError(EmberError):
    """Compilation failed after the model was accepted (a bug or an unsupported pattern)."""

    code = 8


class BusyError(EmberError, RuntimeError):
    """Every virtual machine of the model is busy and it was loaded with ``fail_when_busy``."""

    code = 9


class VerificationError(EmberError):
    """`ember compile --verify`: outputs differ from ONNX Runtime's beyond the tolerance."""

    code = 10


#: Classes for the C++ runtime's error codes, indexed by `ember::ErrorCode`.
RUNTIME_ERROR_CLASSES: dict[int, type[EmberError]] = {
    1: InputError,
    2: ArtifactNotFoundError,
    3: ArtifactError,
    4: IncompatibleArtifactError,
    5: DeviceError,
    6: ExecutionError,
    7: InternalError,
    8: CompileError,
    9: BusyError,
    10: VerificationError,
}
