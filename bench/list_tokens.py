"""Benchmark: list 10,000 tokens from a seeded sandbox (issue 2 "Must show").

Starts a sandbox (rate limits off) seeded with N tokens, in its own process
by default so that the server does not share the GIL with the client being
measured (``--in-process`` for the embedded one), lists them all with
:class:`provisioner.newapi.client.NewApiClient` (pacing off), and prints the
seconds and the requests by route against the minimum possible: ceil(N/100)
list requests plus the two probes (/api/status, /api/user/self). When the
third-party ``newapi-python`` package is installed, it lists the same tokens
in the same run and the ratio is printed.

    python bench/list_tokens.py [--tokens 10000] [--repeat 3] [--in-process]
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from provisioner.newapi.client import NewApiClient
from provisioner.newapi.transport import TransportSettings
from provisioner.sandbox import Sandbox
from provisioner.secret import Secret


@dataclass
class Server:
    url: str
    credential: str
    user_id: int


@contextmanager
def sandbox(tmp: Path, tokens: int, in_process: bool) -> Iterator[Server]:
    db = tmp / "bench.db"
    if in_process:
        sb = Sandbox(db_path=db, rate_limits=False).start(port=0)
        try:
            sb.seed(tokens)
            yield Server(sb.url, sb.credential, sb.user_id)
        finally:
            sb.stop()
        return
    cmd = [sys.executable, "-m", "provisioner", "sandbox", "--port", "0", "--db", str(db)]
    proc = subprocess.Popen([*cmd, "--seed", str(tokens)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        fields = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(3))
        yield Server(fields["url"], fields["token"], int(fields["user_id"]))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_provisioner(sb: Server) -> tuple[float, int, Counter[str]]:
    started = time.perf_counter()
    settings = TransportSettings(rate_limit=None)
    with NewApiClient(sb.url, Secret(sb.credential), sb.user_id, settings=settings) as client:
        _, first = client.open()  # the probe reads page 1; the listing starts from it
        count = len(client.list_tokens(first))
        seconds = time.perf_counter() - started
        return seconds, count, Counter(client.request_counts)


def run_newapi_python(sb: Server) -> tuple[float, int, int] | str:
    try:
        from newapi import NewAPI  # type: ignore[import-not-found]
    except ImportError:
        return "newapi-python is not installed (pip install newapi-python); skipped"
    started = time.perf_counter()
    try:
        with NewAPI(
            sb.url, access_token=sb.credential, user_id=sb.user_id, allow_insecure=True
        ) as client:
            tokens = client.tokens.all(page_size=100)
    except Exception as exc:  # a third-party client: report, do not crash the benchmark
        return f"newapi-python could not list tokens ({type(exc).__name__}: {exc}); skipped"
    seconds = time.perf_counter() - started
    pages = math.ceil(len(tokens) / 100) or 1  # it sends only list requests, one per page
    return seconds, len(tokens), pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per client (median kept)")
    parser.add_argument("--in-process", action="store_true", help="embed the sandbox")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with sandbox(Path(tmp), args.tokens, args.in_process) as sb:
            where = "in process" if args.in_process else "own process"
            print(
                f"sandbox {sb.url} ({where}): started and seeded {args.tokens} tokens in "
                f"{time.perf_counter() - t0:.2f} s"
            )
            # ceil(N/100) list pages + /api/status + /api/user/self; page 1 doubles as the probe.
            minimum = max(1, math.ceil(args.tokens / 100)) + 2
            runs = [run_provisioner(sb) for _ in range(args.repeat)]
            seconds = statistics.median(r[0] for r in runs)
            _, count, by_route = runs[0]
            total = sum(by_route.values())
            print(
                f"provisioner: listed {count} tokens in {seconds:.3f} s "
                f"(median of {args.repeat}), {total} requests, minimum {minimum}"
            )
            for route, n in sorted(by_route.items()):
                print(f"  {route:<28} {n}")
            if count != args.tokens:
                print(f"ERROR: expected {args.tokens} tokens", file=sys.stderr)
                return 1

            other = [run_newapi_python(sb) for _ in range(args.repeat)]
            done = [o for o in other if not isinstance(o, str)]
            if not done:
                print(other[0])
            else:
                other_seconds = statistics.median(o[0] for o in done)
                _, other_count, other_requests = done[0]
                print(
                    f"newapi-python: listed {other_count} tokens in {other_seconds:.3f} s "
                    f"(median of {len(done)}), {other_requests} requests (no probes)"
                )
                print(
                    f"ratio newapi-python / provisioner: time {other_seconds / seconds:.2f}x, "
                    f"requests {other_requests / total:.2f}x"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
