"""Measure the whole conformance suite: ONNX Runtime and Ember on every case.

    python -m tests.conformance.measure --shard 0/2 --out conformance-results
    python -m tests.conformance.measure --summary --out conformance-results

Each shard runs in a child process that appends one JSON line per case; a case that kills
the child (a segfault in a compiler) is recorded as `crash` and the shard goes on after it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

from .cases import check_case, light_case, light_case_names, node_case_names, node_cases


def _one_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    text = lines[-1] if lines else ""
    return f"{type(err).__name__}: {text}"[:300]


def _run(backend: Any, case: Any) -> str:
    try:
        check_case(backend, case)
    except AssertionError as err:
        return "mismatch: " + _one_line(err)
    except BaseException as err:  # any failure counts; the line says which
        if isinstance(err, KeyboardInterrupt):
            raise
        return "error: " + _one_line(err)
    return "pass"


def _worker(names: list[str], log: Path) -> None:
    import onnxruntime.backend as ort_backend

    from .ember_backend import EmberBackend

    done = _done(log)
    nodes = node_cases()
    for name in names:
        if name in done:
            continue
        case = light_case(name) if name.startswith("light_") else nodes[name]
        with log.open("a") as f:
            f.write(json.dumps({"name": name, "started": True}) + "\n")
        ort = _run(ort_backend, case)
        ember = _run(EmberBackend, case)
        with log.open("a") as f:
            f.write(json.dumps({"name": name, "ort": ort, "ember": ember}) + "\n")


def _done(log: Path) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    if not log.exists():
        return done
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("started"):
            done.setdefault(entry["name"], {"name": entry["name"], "ember": "crash", "ort": "?"})
        else:
            done[entry["name"]] = entry
    return done


def _shard(index: int, count: int) -> list[str]:
    names = node_case_names() + light_case_names()
    return names[index::count]


def _drive(index: int, count: int, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    log = out / f"shard{index}of{count}.jsonl"
    names = _shard(index, count)
    before = -1
    while before < len(_done(log)) < len(names):  # stop if a worker makes no progress
        before = len(_done(log))
        cmd = [sys.executable, "-m", "tests.conformance.measure", "--worker"]
        subprocess.run([*cmd, "--shard", f"{index}/{count}", "--out", str(out)], check=False)


def summary(out: Path) -> dict[str, Any]:
    """Totals over every shard log in `out`."""
    from .exclusions import excluded

    entries: dict[str, dict[str, Any]] = {}
    for log in sorted(out.glob("shard*.jsonl")):
        entries.update(_done(log))
    node = [e for n, e in entries.items() if not n.startswith("light_")]
    light = [e for n, e in entries.items() if n.startswith("light_")]
    ort_ok = [e for e in node if e["ort"] == "pass"]
    both = [e for e in ort_ok if e["ember"] == "pass"]
    return {
        "node_total": len(node),
        "node_ort_pass": len(ort_ok),
        "node_ember_pass_of_ort_pass": len(both),
        "percent": round(100 * len(both) / max(len(ort_ok), 1), 1),
        "node_ember_pass": sum(e["ember"] == "pass" for e in node),
        "node_excluded": sum(excluded(e["name"]) is not None for e in node),
        "light": {e["name"]: e["ember"] for e in light},
        "ember_failures_ort_passes": sorted(
            f"{e['name']}: {e['ember']}" for e in ort_ok if e["ember"] != "pass"
        ),
    }


def write_known_failures(out: Path, path: Path) -> None:
    """Write `known_failures.json`: Ember's failures and ONNX Runtime's, one line each."""
    entries: dict[str, dict[str, Any]] = {}
    for log in sorted(out.glob("shard*.jsonl")):
        entries.update(_done(log))
    known = {
        "ember": {n: e["ember"] for n, e in sorted(entries.items()) if e["ember"] != "pass"},
        "ort": {n: e["ort"] for n, e in sorted(entries.items()) if e["ort"] != "pass"},
    }
    path.write_text(json.dumps(known, indent=0, sort_keys=True) + "\n")


def main() -> None:
    """Command line: run a shard (driver or worker) or print the summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shard", default="0/1")
    parser.add_argument("--out", type=Path, default=Path("conformance-results"))
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--summary", action="store_true")
    parser.add_argument("--write-known", type=Path, help="write known_failures.json here")
    args = parser.parse_args()
    if args.write_known:
        write_known_failures(args.out, args.write_known)
        return
    if args.summary:
        print(json.dumps(summary(args.out), indent=1))
        return
    index, count = (int(v) for v in args.shard.split("/"))
    if args.worker:
        try:
            _worker(_shard(index, count), args.out / f"shard{index}of{count}.jsonl")
        except Exception:
            traceback.print_exc()
        return
    _drive(index, count, args.out)


if __name__ == "__main__":
    main()
