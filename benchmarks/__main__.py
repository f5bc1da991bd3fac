"""Run every benchmark: ``python -m benchmarks [--only losses,training,...] [--torch-python P]``.

Each benchmark is its own script writing JSON under ``benchmarks/results/`` and a markdown
table under ``docs/``; this entry point runs them one after the other (never in parallel:
they measure speed) and prints where each result went.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> (script, extra arguments)
BENCHMARKS = {
    "losses": ("losses.py", []),
    "training": ("training.py", []),
    "data": ("data.py", []),
    "evaluation": ("evaluation.py", ["--what", "all"]),
    "visualization": ("visualization.py", []),
    "app": ("app.py", []),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated names")
    parser.add_argument(
        "--torch-python",
        default=None,
        help="interpreter with torch (+ pytorch-metric-learning) for the comparison rows",
    )
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; choose from {sorted(BENCHMARKS)}")
    failures = 0
    for name in names:
        script, extra = BENCHMARKS[name]
        command = [sys.executable, str(HERE / script), *extra]
        if args.torch_python and name == "training":
            command += ["--torch-python", args.torch_python]
        if args.torch_python and name == "losses":
            command += ["--pml-python", args.torch_python]
        start = time.perf_counter()
        print(f"== {name}: {' '.join(command)}", flush=True)
        code = subprocess.call(command, cwd=HERE.parent)
        print(f"== {name}: exit {code} after {time.perf_counter() - start:.0f} s", flush=True)
        failures += code != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
