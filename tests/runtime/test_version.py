"""One version source: pyproject.toml's, seen by the package, the C++ runtime and artifacts."""

from __future__ import annotations

import tomllib
from pathlib import Path

import ember
from ember import _runtime

REPO = Path(__file__).resolve().parents[2]


def test_package_runtime_and_pyproject_agree():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert ember.__version__ == declared
    assert _runtime.version() == declared


def test_artifacts_record_the_same_version(compile_example):
    _, artifact = compile_example("mlp")
    assert ember.read_manifest(artifact)["ember_version"] == ember.__version__
