"""The C++ runtime and its C/C++ tests built with AddressSanitizer and UndefinedBehaviorSanitizer
(clang), run by ctest against a compiled model: thread safety, input validation, a soak and
load/unload (LeakSanitizer checks for leaks at exit), the C ABI. They must pass clean.

libtvm_runtime and libtvm_ffi come uninstrumented from the wheels; no suppressions are needed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.reliability.cpp_build import REPO, configure_and_build, ctest, symbolic_model

pytestmark = pytest.mark.slow

TESTS = ("thread_safety_test", "validation_test", "soak_test", "c_api_test", "c_api_abi1_test")
# The kernel plugins a test model may call (OpenBLAS and oneDNN), sanitized with the runtime.
PLUGINS = ("ember_cpu_blas", "ember_cpu_dnnl")


def tvm_runtime_library() -> Path:
    """libtvm_runtime.so of the installed `tvm` package (found without importing it)."""
    spec = importlib.util.find_spec("tvm")
    assert spec and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "lib" / "libtvm_runtime.so"


@pytest.mark.skipif(not shutil.which("clang++"), reason="needs clang (apt-get install clang)")
def test_runtime_tests_pass_under_asan_and_ubsan(compile_example, tmp_path, record_property):
    artifact = compile_example("reliability_symbolic", symbolic_model())[1]
    build = tmp_path / "build"
    configure_and_build(
        REPO,
        build,
        "-DCMAKE_C_COMPILER=clang",
        "-DCMAKE_CXX_COMPILER=clang++",
        "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
        "-DEMBER_BUILD_TESTS=ON",
        "-DEMBER_SANITIZE=ON",
        f"-DPython_EXECUTABLE={sys.executable}",
        f"-DEMBER_TEST_MODEL={artifact}",
        f"-DEMBER_TEST_SYMBOLIC_MODEL={artifact}",
        "-DEMBER_TEST_RUNS=100",
        "-DEMBER_SOAK_RUNS=1000",
        "-DEMBER_SOAK_LOADS=100",
        targets=TESTS + PLUGINS,
    )
    env = {
        **os.environ,
        "EMBER_TVM_RUNTIME_LIBRARY": str(tvm_runtime_library()),
        "ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        "TVM_THREAD_POOL_SPIN_COUNT": "0",
    }
    out = ctest(build, env=env)
    assert "AddressSanitizer" not in out.replace("under AddressSanitizer", "")
    assert "runtime error:" not in out and "LeakSanitizer" not in out.replace(
        "(LeakSanitizer is)", ""
    )
    record_property("reliability", "sanitizers: 5 C/C++ tests pass under ASan+UBSan+LSan")
