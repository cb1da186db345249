"""`ember check` finds every model `ember compile` rejects in the front end.

The check runs the rule table and a dry run of the real import and passes through
legalization (`frontend.dry_run`). Here both run over a sample of the ONNX node cases,
compiled as the files are (operand inputs stay graph inputs), and over seeded mutations of the
fuzz corpus: wherever compile fails in the front end, check must report a problem (or fail
the same way, for a file it cannot read).
"""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from ember.compiler.api import compile_model
from ember.compiler.frontend.dry_run import check_problems
from ember.compiler.frontend.loader import load_model
from ember.compiler.target import resolve
from ember.errors import CompileError, EmberError, ModelError
from tests.conformance.cases import node_case_names, node_cases
from tests.reliability.mutate import structural_case

#: Every this-many-th node case is sampled (about 50 of them).
NODE_STRIDE = 40
#: Mutated fuzz-corpus models checked.
FUZZ_CASES = 40
#: Pass phases that run before fusion: the front end, which the dry run covers.
FRONT_END_PHASES = ("guard", "simplify", "dispatch", "legalize")


def _front_end_failure(err: EmberError) -> bool:
    if isinstance(err, ModelError):
        return True
    text = str(err)
    return isinstance(err, CompileError) and any(
        f"pass phase '{phase}'" in text for phase in FRONT_END_PHASES
    )


def _check_rejects(path: Path) -> bool:
    """Check reports a problem, or refuses the file with the same kind of error compile has."""
    try:
        return bool(check_problems(load_model(path), resolve("x86")))
    except ModelError:
        return True


def _assert_agree(path: Path, label: str) -> None:
    try:
        compile_model(path, "x86", path.with_suffix(".so"))
    except EmberError as err:
        if _front_end_failure(err):
            assert _check_rejects(path), f"{label}: compile fails ({err}) but check is clean"


def _sampled_node_cases() -> list[str]:
    return node_case_names()[::NODE_STRIDE]


@pytest.fixture(scope="module")
def cases() -> dict[str, onnx.ModelProto]:
    every = node_cases()
    return {name: every[name].model for name in _sampled_node_cases()}


@pytest.mark.parametrize("name", _sampled_node_cases())
def test_check_reports_every_node_case_compile_rejects(
    tmp_path: Path, cases: dict[str, onnx.ModelProto], name: str
) -> None:
    path = tmp_path / f"{name}.onnx"
    onnx.save(cases[name], path)
    _assert_agree(path, name)


@pytest.mark.parametrize("index", range(FUZZ_CASES))
def test_check_reports_every_fuzz_case_compile_rejects(tmp_path: Path, index: int) -> None:
    case = structural_case(1, index)
    path = tmp_path / f"case{index}.onnx"
    path.write_bytes(case.data)
    _assert_agree(path, f"{case.seed_model}: {case.description}")
