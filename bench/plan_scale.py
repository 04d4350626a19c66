"""Benchmark: `provisioner plan` over 100, 1,000 and 10,000 tokens that all match the spec.

The real CLI runs as a subprocess (pacing off) against a sandbox seeded in a temp dir;
the spec declares the same names, so the plan is empty. Reports seconds (median),
the fastest run (the machine is shared: the best is the least disturbed), the child's
peak memory, the requests by route against the minimum possible
(ceil(N/100) list pages + /api/status + /api/user/self, page 1 doubling as the probe)
and the cost per 1,000 tokens at each size (linear growth keeps it flat).

    python bench/plan_scale.py [--sizes 100,1000,10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median_run, run_cli, start_sandbox


def spec_for(n: int) -> str:
    lines = ["version: 1", "tokens:"]
    for i in range(1, n + 1):
        lines += [f"  - name: seed-{i}", "    quota: 10 USD"]  # seed() gives 5,000,000 units
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    print(
        f"{'tokens':>7} {'seconds':>8} {'best':>6} {'s/1k':>6} {'peak MiB':>9} {'requests':>8} "
        f"{'min':>4} ratio"
    )
    failed = False
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            sandbox = start_sandbox(work)
            try:
                sandbox.seed(n)
                (work / "tokens.yaml").write_text(spec_for(n), encoding="utf-8")
                runs = [
                    run_cli(sandbox, work, "plan", "--detailed-exitcode")
                    for _ in range(args.repeat)
                ]
            finally:
                sandbox.stop()
        run = median_run(runs)
        if any(r.code != 0 for r in runs):
            print(f"ERROR: plan of {n} exited {[r.code for r in runs]}\n{run.stderr}")
            failed = True
        total = sum(run.requests.values())
        minimum = max(1, math.ceil(n / 100)) + 2
        best = min(r.seconds for r in runs)
        print(
            f"{n:>7} {run.seconds:>8.3f} {best:>6.3f} {run.seconds / n * 1000:>6.3f} "
            f"{run.peak_mib:>9.1f} {total:>8} {minimum:>4} {total / minimum:.2f}"
        )
        for route, count in sorted(run.requests.items()):
            print(f"          {route:<28} {count}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
