"""Long tuning runs of the benchmark networks, for the shipped `tuning_logs/<target>/`.

    python benchmarks/tune_all.py [--target x86-avx2] [--trials 2000] [--budget 4h]
        [--models resnet50,mlp] [--records runs/x86-avx2] [--ship]

Each model is tuned with `ember tune` into one store (resumable: run it again after a
Ctrl-C, a crash or a reboot, and it continues; `--trials` is the total per model). `--ship`
exports the fastest record per kernel into `tuning_logs/<target>/` afterwards. Needs torch
(to export the networks, as `benchmarks/run.py` does) and hours per model on 2 cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from export import export
from torch_models import BENCHMARKS

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Tune each chosen model in turn; stop at the first failure or interruption."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="x86-avx2")
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--budget", default="4h", help="per model")
    parser.add_argument("--models", default=",".join(b.name for b in BENCHMARKS))
    parser.add_argument("--records", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/ember/benchmarks")
    parser.add_argument("--ship", action="store_true", help="export to tuning_logs/<target>")
    args = parser.parse_args()
    records = args.records or ROOT / "runs" / args.target
    for bench in (b for b in BENCHMARKS if b.name in args.models.split(",")):
        model = export(bench, args.cache)
        cmd = ["ember", "tune", str(model), "--target", args.target, "--records", str(records)]
        cmd += ["--trials", str(args.trials), "--budget", args.budget]
        print(" ".join(cmd), flush=True)
        status = subprocess.call(cmd)
        if status != 0:
            return status
    if args.ship:
        dest = ROOT / "tuning_logs" / args.target
        ship = ["ember", "records", "export", str(dest), "--records", str(records)]
        return subprocess.call([*ship, "--target", args.target, "--keep", "1"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
