"""`ember inspect`: print an artifact's manifest without running anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..runtime import read_manifest
from .console import out


def _tensor_line(entry: dict[str, Any]) -> str:
    dims = "x".join(str(d) for d in entry["shape"]) or "scalar"
    return f"  {entry['name']}: {entry['dtype']}[{dims}]"


def describe(manifest: dict[str, Any]) -> list[str]:
    """The manifest as lines a person reads."""
    target = manifest.get("target", {})
    model = manifest.get("model", {})
    tuning = manifest.get("tuning", {})
    payload = manifest.get("payload", {})
    features = ", ".join(target.get("cpu_features", [])) or "none"
    lines = [
        f"model    {model.get('file', '?')} (opset {model.get('opset', '?')})",
        f"target   {target.get('name', '?')}: {target.get('device', '?')} {target.get('arch', '?')}"
        f" mcpu={target.get('mcpu', '?')} features: {features}"
        + (f" gpu: {target['cuda_arch']}" if target.get("cuda_arch") else ""),
        f"built    {manifest.get('created', '?')} by Ember {manifest.get('ember_version', '?')}"
        f" with TVM {manifest.get('tvm_version', '?')}",
        f"precision {manifest.get('options', {}).get('precision', 'fp32')}",
        f"tuning   {tuning.get('records_used', 0)} of {tuning.get('tasks_total', '?')} tasks tuned",
        f"payload  {payload.get('size', 0) / 1e6:.2f} MB, crc32 {payload.get('crc32', '?')}",
        *_numerics_lines(manifest.get("numerics")),
        "inputs",
        *[_tensor_line(e) for e in manifest.get("inputs", [])],
        "outputs",
        *[_tensor_line(e) for e in manifest.get("outputs", [])],
    ]
    return lines


def _numerics_lines(numerics: dict[str, Any] | None) -> list[str]:
    """What `ember compile --verify` measured, if it ran."""
    if not numerics:
        return []
    worst = max((o["max_rel_error"] for o in numerics.get("outputs", [])), default=0.0)
    return [
        f"numerics {numerics.get('precision', '?')}, verified against "
        f"{numerics.get('reference', '?')}: max rel error {worst:.3g} "
        f"(rtol {numerics.get('rtol', '?')}, atol {numerics.get('atol', '?')}, "
        f"inputs {numerics.get('inputs', '?')})"
    ]


def inspect_command(
    artifact: Annotated[Path, typer.Argument(help="The compiled model (.so).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Print the manifest of ARTIFACT (inputs, outputs, target, versions)."""
    manifest = read_manifest(artifact)
    if as_json:
        out.print_json(json.dumps(manifest))
        return
    for line in describe(manifest):
        out.print(line, markup=False)


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("inspect")(inspect_command)
