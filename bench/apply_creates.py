"""Benchmark: `provisioner apply --yes` of 1,000 creates with key delivery to a json: sink.

Minimum requests: one POST per token, the re-list pages (ceil(N/100)), one batch reveal
per 100, the initial list page(s), the two probes (/api/status, /api/user/self), the two
route probes an empty account needs (groups, auto groups), and the account's lock (a
POST, one list page, the PUT that disables it, a delete).

    python bench/apply_creates.py [--tokens 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median_run, run_cli, start_sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    n = args.tokens
    # the bench sandbox holds more than new-api's default cap of 1,000 tokens: say so
    head = "version: 1\nserver:\n  max_tokens: 1000000\nkeys:\n  to: json:keys.json\n"
    spec = head + "tokens:\n" + "".join(f"  - name: job-{i}\n" for i in range(1, n + 1))
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            sandbox = start_sandbox(work)
            try:
                (work / "tokens.yaml").write_text(spec, encoding="utf-8")
                run = run_cli(sandbox, work, "apply", "--yes", "-q")
                keys = json.loads((work / "keys.json").read_text()) if run.code == 0 else {}
                keys.pop("provisioner:origins", None)  # the sink remembers its server
                if run.code != 0 or len(keys) != n:
                    print(f"ERROR: exit {run.code}, {len(keys)} keys\n{run.stderr[-2000:]}")
                    return 1
                runs.append(run)
            finally:
                sandbox.stop()
    run = median_run(runs)
    total = sum(run.requests.values())
    pages = max(1, math.ceil(n / 100))
    relist = math.ceil((n + 1) / 100)  # the lock token is listed too
    # POSTs, re-list, reveals, the first list page, the two probes, the two route probes of
    # an empty account (groups, auto groups), and the lock: its POST, one list, the PUT that
    # disables it, one delete (renewals start after a third of its lease: 40 s)
    minimum = n + relist + pages + 1 + 2 + 2 + 4
    print(f"machine: {machine()}")
    print(
        f"apply of {n} creates + key delivery: {run.seconds:.3f} s (median of {args.repeat}), "
        f"peak {run.peak_mib:.1f} MiB, {total} requests, minimum {minimum}, "
        f"ratio {total / minimum:.2f}"
    )
    for route, count in sorted(run.requests.items()):
        print(f"  {route:<28} {count}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
