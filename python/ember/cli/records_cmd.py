"""`ember records stats|merge|prune|export`: manage tuning record stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .console import err, out

records_app = typer.Typer(
    help="Manage tuning record stores (MetaSchedule JSON databases).", no_args_is_help=True
)

TargetOpt = Annotated[
    str, typer.Option("--target", "-t", help="The target whose store to use (default x86).")
]
RecordsOpt = Annotated[
    Path | None, typer.Option("--records", help="A store folder (default: the target's store).")
]
KeepOpt = Annotated[int, typer.Option("--keep", help="Records kept per workload and target.")]


def _store_of(target: str, records: Path | None) -> Path:
    from ember.compiler.target import resolve
    from ember.compiler.tuning.store import default_store

    return records if records is not None else default_store(resolve(target).name)


def _identity(target: str, all_targets: bool) -> tuple[str, ...] | None:
    """The target whose records are kept; None keeps every target's."""
    if all_targets:
        return None
    from ember.compiler.target import resolve
    from ember.compiler.tuning.store import target_identity

    return target_identity(resolve(target).tvm)


@records_app.command("stats")
def stats_command(
    target: TargetOpt = "x86",
    records: RecordsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Workloads, records per target, failed measurements, problems."""
    from ember.compiler.tuning.records import stats

    info = stats(_store_of(target, records))
    if as_json:
        out.print_json(json.dumps(info))
        return
    stamp = info["stamp"] or {}
    out.print(f"store      {info['store']}", markup=False)
    out.print(f"written by TVM {stamp.get('tvm_version', '?')} for {stamp.get('target', '?')}")
    out.print(f"workloads  {info['workloads']}")
    out.print(f"records    {info['records']} ({info['failed']} failed measurements)")
    for name, count in sorted(info["per_target"].items()):
        out.print(f"  {count:6d}  {name}", markup=False)
    for problem in info["problems"]:
        err.print(f"warning: {problem}", markup=False)


@records_app.command("merge")
def merge_command(
    sources: Annotated[list[Path], typer.Argument(help="Store folders to merge in.")],
    target: TargetOpt = "x86",
    into: Annotated[
        Path | None, typer.Option("--into", help="Destination store (default: target's store).")
    ] = None,
) -> None:
    """Merge stores into one (duplicates dropped; other TVM versions skipped)."""
    from ember.compiler.tuning.database import tvm_version
    from ember.compiler.tuning.records import merge

    dest = _store_of(target, into)
    added, problems = merge(sources, dest, tvm_version())
    for problem in problems:
        err.print(f"warning: {problem}", markup=False)
    out.print(f"merged {added} new record(s) into {dest}", markup=False)


@records_app.command("prune")
def prune_command(
    target: TargetOpt = "x86",
    records: RecordsOpt = None,
    keep: KeepOpt = 1,
    all_targets: Annotated[
        bool, typer.Option("--all-targets", help="Keep other targets' records too.")
    ] = False,
) -> None:
    """Keep only the fastest records per workload (and drop failed or corrupt lines)."""
    from ember.compiler.tuning.records import prune

    path = _store_of(target, records)
    kept, dropped = prune(path, keep, _identity(target, all_targets))
    out.print(f"kept {kept} record(s), dropped {dropped} in {path}", markup=False)


@records_app.command("export")
def export_command(
    dest: Annotated[Path, typer.Argument(help="New store folder (e.g. tuning_logs/<target>).")],
    target: TargetOpt = "x86",
    records: RecordsOpt = None,
    keep: KeepOpt = 1,
    improved_only: Annotated[
        bool,
        typer.Option(
            "--improved-only",
            help="Only kernels the search made faster than their default schedule.",
        ),
    ] = False,
) -> None:
    """Copy the best records per workload into a new store, in TVM's format."""
    from ember.compiler.tuning.records import export

    source = _store_of(target, records)
    count = export(source, dest, keep, _identity(target, False), improved_only)
    out.print(f"exported {count} record(s) to {dest}", markup=False)


def register(app: typer.Typer) -> None:
    """Add the command group to the app."""
    app.add_typer(records_app, name="records")
