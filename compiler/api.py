"""`compile_model`: ONNX file in, one-file artifact out. Composes the compiler's layers."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ember._version import __version__ as EMBER_VERSION
from ember.errors import CompileError, EmberError, OptionError

from . import artifact
from .codegen.build import build_library
from .codegen.relax_pipeline import memory_manifest
from .frontend import bind, importer, loader, preflight, signature
from .layout.conv_layout import LayoutChoice, check_layout, choose_layout
from .libraries import onednn
from .options import CompileOptions
from .passes.integer_products import BF16_FEATURE, uses_integer_products
from .passes.pipeline import count_kernels, plugins_of, run_pipeline
from .precision import check_precision
from .progress import Progress, SilentProgress
from .provenance.int8_coverage import int8_coverage
from .provenance.node_sources import kernel_sources, without_node_sources
from .target import Target, resolve
from .tuning.apply import (
    CompileRecords,
    open_records,
    record_stores,
    shipped_presets,
    tuning_passes,
    tuning_summary,
)
from .tuning.library_race import KernelRace, kernel_race
from .tvm_errors import summarize


def compile_model(
    model_path: str | os.PathLike[str],
    target: str = "x86",
    output: str | os.PathLike[str] | None = None,
    options: CompileOptions | None = None,
    progress: Progress | None = None,
    check: Callable[[Path], dict[str, Any]] | None = None,
) -> Path:
    """Compile an ONNX file for `target`; return the artifact's path.

    Without `output` the artifact is written next to the model (`model.onnx` -> `model.so`).
    Nothing is left behind when compilation fails. `check` (`ember compile --verify`) gets
    the finished artifact under a temporary name before it is published; what it returns
    becomes the manifest's `numerics`, and an exception from it publishes nothing.
    """
    options = options or CompileOptions()
    check_layout(options.layout)
    progress = progress or SilentProgress()
    source = Path(model_path)
    resolved = resolve(target)
    options = dataclasses.replace(options, precision=check_precision(options.precision, resolved))
    out = _output_path(source, output)
    with progress.stage("import", str(source)):
        model = loader.load_model(source)
        if options.bind_inputs:
            bind.bind_inputs(model, options.bind_inputs)
        preflight.require_clean(model, resolved)
        inputs = signature.apply_shapes(signature.graph_inputs(model), options.input_shapes)
        mod = importer.import_model(model, inputs, str(source))
        outputs = importer.output_signatures(mod, model)
    with progress.stage("layout", options.layout):
        layout = choose_layout(mod, resolved, options.layout, options.precision)
        progress.note(layout.summary())
    with progress.stage("passes", resolved.name):
        _note_cpu_library(resolved, progress)
        mod, race = _lower(mod, resolved, options, source, progress, layout)
        coverage = int8_coverage(model, mod)
        note = coverage.note()
        if note is not None:
            (progress.warn if coverage.float32 else progress.note)(note)
    manifest = _manifest(source, model, resolved, options, inputs, outputs, mod)
    if uses_integer_products(mod) and BF16_FEATURE not in manifest["target"]["cpu_features"]:
        # Where bf16 would be emulated, those products would run slower than in float32.
        manifest["target"]["cpu_features"].append(BF16_FEATURE)
    if coverage.sites:
        manifest["int8"] = {"nodes": len(coverage.sites), "float32": sorted(coverage.float32)}
    manifest["layout"] = layout.manifest()
    if race is not None:
        manifest["tuning"]["library_race"] = race.summary()
    manifest["plugins"] = plugins_of(mod)
    manifest["memory"] = memory_manifest()
    manifest["kernel_sources"] = kernel_sources(mod)
    mod = without_node_sources(mod)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    # Still a .so: TVM's loader picks the library loader by file extension.
    staged = out.with_name(f".{out.stem}.{os.getpid()}.verify.so")
    try:
        with progress.stage("build", resolved.tvm.get("mcpu", resolved.name)):
            build_library(mod, resolved, tmp)
        if check is None:
            with progress.stage("export", str(out)):
                artifact.write_artifact(tmp, manifest, out)
            return out
        payload_size = tmp.stat().st_size
        artifact.write_artifact(tmp, manifest, staged)
        with progress.stage("verify", "against ONNX Runtime"):
            manifest["numerics"] = check(staged)
        with progress.stage("export", str(out)):
            # Drop the first manifest and trailer, append the one with the figures.
            os.truncate(staged, payload_size)
            artifact.write_artifact(staged, manifest, out)
    finally:
        for leftover in (tmp, staged):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return out


def _note_cpu_library(target: Target, progress: Progress) -> None:
    """One line where oneDNN cannot run this x86 compile's matmuls and convolutions."""
    if target.device != "cpu" or target.arch != "x86_64":
        return
    reason = onednn.unavailable_reason()
    if reason is not None:
        progress.warn(
            f"oneDNN is not used ({reason}): matmuls and NCHW convolutions run in OpenBLAS, "
            "other convolutions in generated code"
        )


def _tuning_records(
    target: Target, options: CompileOptions, progress: Progress
) -> CompileRecords | None:
    """The user's and the shipped records for `target`; problems are warnings, not errors."""
    if not options.tuning_logs:
        return None
    records = open_records(record_stores(target, options.records, shipped=True), target)
    for problem in records.problems:
        progress.warn(problem)
    borrowed = [p.name for p in shipped_presets(target) if p.name != target.name]
    if borrowed:
        progress.note(f"shipped records of {', '.join(borrowed)} fit this target's CPU")
    return records


def _lower(
    mod: Any,
    target: Target,
    options: CompileOptions,
    source: Path,
    progress: Progress,
    layout: LayoutChoice,
) -> tuple[Any, KernelRace | None]:
    """The target's pass pipeline with the tuning records; TVM's failures become one line.

    Where the records hold library times, library calls race their tuned kernels.
    """
    records = _tuning_records(target, options, progress)
    tuning = tuning_passes(records) if records else []
    # Library times in the records are float32: a reduced precision keeps the library calls.
    race = (
        kernel_race(records.stores, target.tvm)
        if records and records.records and options.precision == "fp32"
        else None
    )
    try:
        mod = run_pipeline(
            mod,
            target,
            options.dump_ir,
            tuning=tuning,
            layout=layout.layout,
            choice=race,
            precision=options.precision,
            winograd=options.winograd,
        )
    except EmberError:
        raise
    except Exception as err:  # TVM's passes raise many types (AssertionError, ValueError, ...)
        raise CompileError(
            f"model '{source}': the {target.name} pass pipeline failed: {summarize(err)}"
        ) from err
    progress.note(f"{count_kernels(mod)} kernels")
    if options.tuning_logs:
        summary = tuning_summary(mod)
        kept = summary["defaults_kept"]
        progress.note(
            f"tuned {summary['records_used']} of {summary['tasks_total']} tasks"
            + (f" ({kept} keep the default schedule, measured fastest)" if kept else "")
        )
    if race is not None and (race.won or race.lost):
        raced = len(race.won) + len(race.lost)
        progress.note(f"tuned kernels beat the library on {len(race.won)} of {raced} calls")
    return mod, race


def _output_path(source: Path, output: str | os.PathLike[str] | None) -> Path:
    out = Path(output) if output is not None else source.with_suffix(".so")
    if out.is_dir():
        out = out / source.with_suffix(".so").name
    if out.suffix != ".so":
        # TVM's loader picks the library loader by file extension.
        raise OptionError(f"output '{out}' must end in .so")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise OptionError(f"output folder '{parent}' does not exist")
    if not os.access(parent, os.W_OK):
        raise OptionError(f"output folder '{parent}' is not writable")
    return out


def _manifest(
    source: Path,
    model: Any,
    target: Target,
    options: CompileOptions,
    inputs: list[signature.TensorSignature],
    outputs: list[signature.TensorSignature],
    mod: Any,
) -> dict[str, Any]:
    import tvm

    producer = f"{model.producer_name} {model.producer_version}".strip()
    return {
        "ember_version": EMBER_VERSION,
        "tvm_version": tvm.__version__,
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": {
            "file": source.name,
            "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
            "opset": loader.default_opset(model),
            "producer": producer,
        },
        "target": target.manifest(),
        "entry": "main",
        "inputs": [s.manifest() for s in inputs],
        "outputs": [s.manifest() for s in outputs],
        "options": options.manifest(),
        "tuning": tuning_summary(mod),
        "numerics": None,
    }
