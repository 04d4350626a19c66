"""Benchmark: an apply of N creates under the server's rate limit, against the floor it sets.

The sandbox limits every /api/* request to LIMIT per WINDOW seconds (a sliding window,
as new-api does). R accepted requests need at least floor((R - 1) / LIMIT) windows back
to back: that is the floor. Idle time is the wall time beyond it. Target: <= 5%.

    python bench/rate_limited_apply.py                         # 300 creates, 60/15 s, told
    python bench/rate_limited_apply.py --not-told              # the client paces at 180/180
    python bench/rate_limited_apply.py --tokens 60 --limit 40/75 --profile new-api-2025-10
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cli_env, machine

from provisioner.sandbox import Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--limit", default="60/15", metavar="N/SECONDS")
    parser.add_argument("--profile", default="new-api-2026-08")
    parser.add_argument(
        "--not-told", action="store_true", help="the client paces at its default 180/180"
    )
    args = parser.parse_args(argv)
    count, window = args.limit.split("/")
    limit, seconds = int(count), float(window)
    # the bench sandbox holds more than new-api's default cap of 1,000 tokens: say so
    head = "version: 1\nserver:\n  max_tokens: 1000000\nkeys:\n  to: json:keys.json\n"
    spec = (
        head + "tokens:\n" + "".join(f"  - name: job-{i:04d}\n" for i in range(1, args.tokens + 1))
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sandbox = Sandbox(
            db_path=work / "bench.db",
            profile=args.profile,
            rate_limits=True,
            limits={"global": (limit, seconds)},
            max_user_tokens=1_000_000,
        ).start(port=0)
        try:
            (work / "tokens.yaml").write_text(spec, encoding="utf-8")
            env = cli_env(sandbox)
            env["NEWAPI_USER_ID"] = str(sandbox.user_id)
            env["PROVISIONER_RATE_LIMIT"] = "180/180" if args.not_told else args.limit
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "provisioner", "apply", "--yes"],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - started
            keys = json.loads((work / "keys.json").read_text()) if proc.returncode == 0 else {}
            names = [r["name"] for r in sandbox.rows() if r["user_id"] == sandbox.user_id]
            statuses = Counter(status for _, target, status in sandbox.requests)
            accepted = sum(
                1
                for _, target, status in sandbox.requests
                if target.startswith("/api/") and status != 429
            )
        finally:
            sandbox.stop()
    ok = (
        proc.returncode == 0
        and len(keys) == args.tokens
        and len(set(names)) == len(names) == args.tokens
    )
    floor = ((accepted - 1) // limit) * seconds
    idle = wall - floor
    print(f"machine: {machine()}")
    print(
        f"profile {args.profile}, server limit {limit} per {seconds:g} s, client "
        f"{'not told (paces at 180/180)' if args.not_told else f'told ({args.limit})'}"
    )
    print(
        f"apply of {args.tokens} creates: exit {proc.returncode}, {len(keys)} keys in the sink, "
        f"{len(names)} tokens ({len(set(names))} distinct)"
    )
    print(
        f"requests: {accepted} accepted, {statuses.get(429, 0)} refused with 429; "
        f"floor {floor:.1f} s ({(accepted - 1) // limit} windows back to back)"
    )
    if floor:
        print(f"wall {wall:.1f} s, idle beyond the floor {idle:.1f} s ({100 * idle / floor:.1f}%)")
    else:
        print(f"wall {wall:.1f} s (within one window: no floor)")
    waits = [line for line in proc.stderr.splitlines() if "Waiting" in line or "Still" in line]
    print(f"stderr progress lines: {len(waits)}; first: {waits[0] if waits else '-'}")
    if not ok:
        print("ERROR:", proc.stdout[-1500:], proc.stderr[-1500:])
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
