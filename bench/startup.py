"""Benchmark: start-up of `provisioner --help` and `provisioner validate` of a small file.

Wall time of a fresh subprocess, median of 10 (target for --help: under 0.3 s).
`python -X importtime -m provisioner --help` shows what is imported when it is over.

    python bench/startup.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, machine, median_run, run_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(REPO / "examples" / "tokens.yaml", work / "tokens.yaml")
        baseline = median_run([run_cli(None, work, "--version") for _ in range(3)])
        for label, argv_ in (("--help", ["--help"]), ("validate", ["validate"])):
            runs = [run_cli(None, work, *argv_) for _ in range(args.repeat)]
            run = median_run(runs)
            codes = sorted({r.code for r in runs})
            print(
                f"provisioner {label:<9} {run.seconds:.3f} s (median of {args.repeat}), "
                f"peak {run.peak_mib:.1f} MiB, exit {codes}"
            )
    print(f"(python -m provisioner --version: {baseline.seconds:.3f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
