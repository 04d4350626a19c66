"""Benchmark: an apply of N creates under the server's rate limit, against the floor it sets.

The sandbox limits every /api/* request to LIMIT per WINDOW seconds (a sliding window,
as new-api does; 429s are not counted). R accepted requests need at least
floor((R - 1) / LIMIT) windows back to back: that is the floor. Idle time is the wall
time beyond it. Target: <= 5%.

    python bench/rate_limited_apply.py                          # 300 creates, 60/15 s, told
    python bench/rate_limited_apply.py --client untold          # not told: learns from a 429
    python bench/rate_limited_apply.py --tokens 60 --limit 40/75 --profile new-api-2025-10
    python bench/rate_limited_apply.py --generations            # every recorded generation,
                                                                # its default limit, not told
    python bench/rate_limited_apply.py --generations --scale 4  # the same, windows / 4

Not told, the client goes at full speed and learns the limit from the first 429: from
Retry-After where the generation sends it, else from the generation's window (180 s).
A scaled run (--scale K) divides every window by K; on a generation without Retry-After
the client is then given the scaled window (PROVISIONER_RETRY=rate_window=...), as it
could not know it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cli_env, machine

from provisioner.sandbox import Sandbox
from provisioner.sandbox.profiles import PROFILES, RECORDED

#: per recorded generation: creates that take the run past its default limit's first window
PAST_ONE_WINDOW = {
    "one-api-2025-02": 500,
    "new-api-2025-10": 200,
    "new-api-2026-07": 400,
    "new-api-2026-08": 400,
}


@dataclass
class Outcome:
    profile: str
    tokens: int
    limit: int
    window: float
    client: str
    code: int
    keys: int
    names: int
    distinct: int
    accepted: int
    refused: int
    wall: float
    learned: str
    waits: list[str]
    tail: str

    @property
    def windows(self) -> int:
        return (self.accepted - 1) // self.limit

    @property
    def floor(self) -> float:
        return self.windows * self.window

    @property
    def ok(self) -> bool:
        return self.code == 0 and self.keys == self.names == self.distinct == self.tokens


def run(profile: str, tokens: int, limit: int, window: float, client: str) -> Outcome:
    """One apply of ``tokens`` creates; ``client``: told (N/S), untold, or off."""
    # the bench sandbox holds more than new-api's default cap of 1,000 tokens: say so
    head = "version: 1\nserver:\n  max_tokens: 1000000\nkeys:\n  to: json:keys.json\ntokens:\n"
    spec = head + "".join(f"  - name: job-{i:04d}\n" for i in range(1, tokens + 1))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sandbox = Sandbox(
            db_path=work / "bench.db",
            profile=profile,
            rate_limits=True,
            limits={"global": (limit, window)},
            max_user_tokens=1_000_000,
        ).start(port=0)
        try:
            (work / "tokens.yaml").write_text(spec, encoding="utf-8")
            env = cli_env(sandbox)
            env["NEWAPI_USER_ID"] = str(sandbox.user_id)
            if client == "untold":
                del env["PROVISIONER_RATE_LIMIT"]
                if window != 180 and not PROFILES[profile].retry_after:
                    # scaled: a 429 without Retry-After is read against the generation's
                    # 180 s; tell the client the scaled window instead
                    env["PROVISIONER_RETRY"] = f"rate_window={window:g}"
            else:
                env["PROVISIONER_RATE_LIMIT"] = client
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
            keys.pop("provisioner:origins", None)
            names = [r["name"] for r in sandbox.rows() if r["user_id"] == sandbox.user_id]
            statuses = Counter(status for _, target, status in sandbox.requests)
            accepted = sum(
                1
                for _, target, status in sandbox.requests
                if target.startswith("/api/") and status not in (404, 429)
            )
        finally:
            sandbox.stop()
    lines = proc.stderr.splitlines()
    learned = next((line for line in lines if "the server limits requests" in line), "")
    return Outcome(
        profile=profile,
        tokens=tokens,
        limit=limit,
        window=window,
        client=client,
        code=proc.returncode,
        keys=len(keys),
        names=len(names),
        distinct=len(set(names)),
        accepted=accepted,
        refused=statuses.get(429, 0),
        wall=wall,
        learned=learned,
        waits=[line for line in lines if "Waiting" in line or "Still" in line],
        tail=(proc.stdout[-1500:] + proc.stderr[-1500:]) if proc.returncode else "",
    )


def report(out: Outcome) -> None:
    print(
        f"profile {out.profile}, server limit {out.limit} per {out.window:g} s, client "
        f"{out.client}: {out.tokens} creates, exit {out.code}, {out.keys} keys in the sink, "
        f"{out.names} tokens ({out.distinct} distinct)"
    )
    print(
        f"  requests: {out.accepted} accepted, {out.refused} refused with 429; floor "
        f"{out.floor:.1f} s ({out.windows} windows back to back)"
    )
    idle = out.wall - out.floor
    share = f" ({100 * idle / out.floor:.1f}%)" if out.floor else " (within one window)"
    print(f"  wall {out.wall:.1f} s, idle beyond the floor {idle:.1f} s{share}")
    if out.learned:
        print(f"  stderr: {out.learned}")
    print(f"  progress lines: {len(out.waits)}; first: {out.waits[0] if out.waits else '-'}")
    if not out.ok:
        print("  ERROR:", out.tail)


def table(outcomes: list[Outcome]) -> None:
    print()
    print("| generation | server limit | creates | requests | 429s | floor | wall | idle |")
    print("|---|---|---|---|---|---|---|---|")
    for out in outcomes:
        idle = out.wall - out.floor
        share = f" ({100 * idle / out.floor:.1f}%)" if out.floor else ""
        result = "" if out.ok else " FAILED"
        print(
            f"| {out.profile} | {out.limit} per {out.window:g} s | {out.tokens} | {out.accepted} "
            f"| {out.refused} | {out.floor:.1f} s | {out.wall:.1f} s | {idle:.1f} s{share}"
            f"{result} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--limit", default="60/15", metavar="N/SECONDS")
    parser.add_argument("--profile", default="new-api-2026-08", choices=RECORDED)
    parser.add_argument(
        "--client",
        default="told",
        metavar="told|untold|off|N/SECONDS",
        help="told: --rate-limit set to the server's limit (default); untold: the default "
        "pace, learned from the first 429; off; or a limit to tell it",
    )
    parser.add_argument(
        "--generations",
        action="store_true",
        help="every recorded generation at its default limit, not told: 200 creates, and "
        "enough creates to pass its first window",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="divide every window by this")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    outcomes: list[Outcome] = []
    if args.generations:
        for profile in RECORDED:
            limit, window = PROFILES[profile].global_limit
            for tokens in dict.fromkeys([200, PAST_ONE_WINDOW[profile]]):
                out = run(profile, tokens, limit, window / args.scale, "untold")
                report(out)
                outcomes.append(out)
        table(outcomes)
    else:
        count, seconds = args.limit.split("/")
        limit, window = int(count), float(seconds) / args.scale
        client = f"{limit}/{window:g}" if args.client == "told" else args.client
        out = run(args.profile, args.tokens, limit, window, client)
        report(out)
        outcomes.append(out)
    return 0 if all(out.ok for out in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
