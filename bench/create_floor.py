"""Benchmark: N creates on a server with no limiter, the tool against the floor.

The floor is what a bare loop of POSTs costs against the same sandbox: a plain
``http.client`` loop on one kept-alive connection per thread, and an ``httpx`` loop
(one Client, shared by the threads). The tool is ``provisioner apply --yes`` of N
creates with key delivery to a json: sink, run with its create concurrency set to the
same number of threads. Loops and tool are timed alike, as the sandbox saw their creates
(first answered to last, plus one create's share); the tool's whole run is shown too.
Every run is a fresh process against a fresh sandbox (rate limits off).

    python bench/create_floor.py                          # 950 creates, 1, 4 and 16 threads
    python bench/create_floor.py --latency 0.05           # a server 50 ms away
    python bench/create_floor.py --latency 0.05 --threads 1,2,4,8,16 --tools-only
    python bench/create_floor.py --untold                 # the tool not told vs --rate-limit off

Target (docs/performance.md): the tool's create phase within 10% of the httpx loop at
the same concurrency.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, cli_env, machine

from provisioner.sandbox import Sandbox

# ---------------------------------------------------------------- the loops (child side)


def _bodies(n: int, prefix: str) -> list[bytes]:
    """The body the tool sends for ``- name: NAME`` (every field the file may set)."""
    from provisioner.newapi.bodies import create_body
    from provisioner.plan.actions import TokenFields

    return [json.dumps(create_body(TokenFields(name=f"{prefix}-{i}"))).encode() for i in range(n)]


def _split(items: list[bytes], threads: int) -> list[list[bytes]]:
    return [items[i::threads] for i in range(threads)]


FAILURES: list[str] = []  # what went wrong, one entry a failed create (the child's side)


def _run_threads(work: Callable[[bytes], None], parts: list[list[bytes]]) -> float:
    def each(bodies: list[bytes]) -> None:
        for body in bodies:
            try:
                work(body)
            except Exception as exc:  # a server that trips: count it, go on
                FAILURES.append(type(exc).__name__)

    started = time.perf_counter()
    pool = [threading.Thread(target=each, args=(part,)) for part in parts]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started


def loop_http_client(url: str, token: str, n: int, threads: int) -> float:
    """POST after POST on one kept-alive connection per thread: the floor."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }

    local = threading.local()

    def work(body: bytes) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            conn.request("POST", "/api/token/", body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except Exception:
            local.conn = None  # a new connection for the next one
            conn.close()
            raise
        if response.status != 200 or b'"success":true' not in data:
            raise RuntimeError(f"HTTP {response.status}")

    return _run_threads(work, _split(_bodies(n, "hc"), threads))


def loop_httpx(url: str, token: str, n: int, threads: int) -> float:
    """The same POSTs through one httpx Client (its pool shared by the threads)."""
    import httpx

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:

        def work(body: bytes) -> None:
            response = client.post("/api/token/", content=body)
            if response.status_code != 200 or not response.json().get("success"):
                raise RuntimeError(f"HTTP {response.status_code}")

        return _run_threads(work, _split(_bodies(n, "hx"), threads))


LOOPS = {"http.client": loop_http_client, "httpx": loop_httpx}

# ---------------------------------------------------------------- the runs (parent side)


def _sandbox(work: Path, latency: float) -> tuple[Sandbox, list[tuple[float, str]]]:
    sandbox = Sandbox(
        db_path=work / "bench.db", rate_limits=False, max_user_tokens=1_000_000, latency=latency
    ).start(port=0)
    seen: list[tuple[float, str]] = []  # (when answered, "METHOD path") as the sandbox saw it
    record = sandbox._record

    def timed(request, status):  # type: ignore[no-untyped-def]
        what = f"{request.method} {request.path}"
        if b'"provisioner.lock.' in (request.body or b""):
            what += " (the lock)"  # apply's lock token: not one of the creates timed
        seen.append((time.perf_counter(), what))
        return record(request, status)

    sandbox._record = timed  # type: ignore[method-assign]
    return sandbox, seen


def run_loop(kind: str, n: int, threads: int, latency: float) -> tuple[float, str]:
    """(seconds, what failed: "" when every create was made)."""
    with tempfile.TemporaryDirectory() as tmp:
        sandbox, seen = _sandbox(Path(tmp), latency)
        try:
            child = [sys.executable, __file__, "--child", kind, "--tokens", str(n)]
            child += [
                "--threads",
                str(threads),
                "--url",
                sandbox.url,
                "--token",
                sandbox.credential,
            ]
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            out = subprocess.run(child, capture_output=True, text=True, check=True, env=env)
            made = sum(1 for r in sandbox.rows() if r["user_id"] == sandbox.user_id)
        finally:
            sandbox.stop()
    _, _, failures = out.stdout.strip().partition(" ")
    return _phase(seen), (f"{n - made} of {n} failed: {failures}" if made != n else "")


def _phase(seen: list[tuple[float, str]]) -> float:
    """The creates as the sandbox saw them: first answer to last, plus one create's share
    (the first one's own time); measured alike for the loops and the tool."""
    posts = [when for when, what in seen if what == "POST /api/token/"]
    if len(posts) < 2:
        return float("nan")
    phase = posts[-1] - posts[0]
    return phase + phase / (len(posts) - 1)


TOOL = """
import sys
import provisioner.cli.execution as execution
if {threads}:
    execution.CREATE_CONCURRENCY = {threads}
from provisioner.cli.main import main
sys.exit(main(["apply", "--yes", "-q"]))
"""


def run_tool(n: int, threads: int, latency: float, rate: str | None) -> tuple[float, float, str]:
    """(create phase, whole run, what failed) of ``provisioner apply`` of n creates."""
    spec = "version: 1\nserver:\n  max_tokens: 1000000\nkeys:\n  to: json:keys.json\ntokens:\n"
    spec += "".join(f"  - name: job-{i}\n" for i in range(n))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sandbox, seen = _sandbox(work, latency)
        try:
            (work / "tokens.yaml").write_text(spec, encoding="utf-8")
            env = cli_env(sandbox)
            if rate is None:
                env.pop("PROVISIONER_RATE_LIMIT", None)  # not told: the default
            else:
                env["PROVISIONER_RATE_LIMIT"] = rate
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-c", TOOL.format(threads=threads)],
                cwd=work, env=env, capture_output=True, text=True,
            )  # fmt: skip
            whole = time.perf_counter() - started
            keys = json.loads((work / "keys.json").read_text()) if proc.returncode == 0 else {}
        finally:
            sandbox.stop()
    keys.pop("provisioner:origins", None)
    failed = ""
    if proc.returncode != 0 or len(keys) != n:
        failed = f"exit {proc.returncode}, {len(keys)} of {n} keys: {proc.stderr.strip()[-300:]}"
    return _phase(seen), whole, failed


# ---------------------------------------------------------------- CPU per create, no server


def cpu_per_create(n: int) -> list[tuple[str, float]]:
    """Microseconds of this process's CPU per create against an instant in-process server
    (httpx.MockTransport): what each layer costs, without the server's time or the noise
    of a shared machine."""
    import httpx

    from provisioner.execute.executor import Executor
    from provisioner.newapi.client import NewApiClient
    from provisioner.newapi.ratelimit import LEARN
    from provisioner.newapi.transport import TransportSettings
    from provisioner.plan.diff import diff
    from provisioner.report import OpResult
    from provisioner.secret import Secret
    from provisioner.spec.loader import load_spec_text

    empty = {"success": True, "message": ""}
    answers = {
        "/api/status": {"success": True, "data": {"version": "v1"}},
        "/api/user/self": {"success": True, "data": {"id": 1, "username": "root"}},
    }

    def server(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path == "/api/token/":
            return httpx.Response(200, json={"success": True, "data": {"items": [], "total": 0}})
        return httpx.Response(200, json=answers.get(request.url.path, empty))

    bodies = [json.loads(body) for body in _bodies(n, "job")]
    rows: list[tuple[str, float]] = []

    def timed(name: str, run: Callable[[], None]) -> None:
        started = time.process_time()
        run()
        rows.append((name, 1e6 * (time.process_time() - started) / n))

    with httpx.Client(transport=httpx.MockTransport(server), base_url="http://x.test") as plain:
        headers = {"Authorization": "Bearer x", "Content-Type": "application/json"}
        raw = [json.dumps(body).encode() for body in bodies]

        def loop() -> None:
            for body in raw:
                plain.post("/api/token/", content=body, headers=headers).json()

        timed("httpx loop", loop)
    for rate, told in ((None, "--rate-limit off"), (LEARN, "not told")):
        settings = TransportSettings(http=httpx.MockTransport(server), rate_limit=rate)
        client = NewApiClient("http://x.test", Secret("x" * 32), settings=settings)
        client.probe()
        timed(f"client.create_token ({told})", lambda c=client: [c.create_token(b) for b in bodies])  # type: ignore[misc]
        client.close()
    text = "version: 1\ntokens:\n" + "".join(f"  - name: job-{i}\n" for i in range(n))
    spec = load_spec_text(text, "tokens.yaml")
    settings = TransportSettings(http=httpx.MockTransport(server), rate_limit=LEARN)
    client = NewApiClient("http://x.test", Secret("x" * 32), settings=settings)
    client.probe()
    plan = diff(spec, [], client.now())
    for width in (1, 16):
        executor = Executor(plan, client, [], create_concurrency=width)
        actions = [a for a in plan.actions if a.kind == "create"]
        pending = {id(a): OpResult(kind=a.kind, name=a.name) for a in actions}
        for action in actions:
            executor._sent[id(action)] = executor._body(action)
        timed(
            f"apply's create phase, {width} at a time",
            lambda e=executor, a=actions, p=pending: e._post_creates(a, p, [], [], set()),  # type: ignore[misc]
        )
    client.close()
    return rows


def median(values: list[float]) -> float:
    return statistics.median(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=950)
    parser.add_argument("--threads", default="1,4,16")
    parser.add_argument("--latency", type=float, default=0.0, help="the sandbox's --latency")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tools-only", action="store_true", help="skip the loops")
    parser.add_argument(
        "--untold", action="store_true", help="also the tool not told the limit (the default)"
    )
    parser.add_argument(
        "--cpu", action="store_true", help="CPU per create of each layer, no server, then stop"
    )
    parser.add_argument("--child", choices=list(LOOPS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        seconds = LOOPS[args.child](args.url, args.token, args.tokens, int(args.threads))
        print(seconds, ",".join(sorted(set(FAILURES))))
        return 0
    n = args.tokens
    print(f"machine: {machine()}")
    if args.cpu:
        print(f"CPU per create, {n} creates against an instant in-process server (best of 5)")
        best: dict[str, float] = {}
        for _ in range(5):
            for name, micros in cpu_per_create(n):
                best[name] = min(best.get(name, micros), micros)
        floor = best["httpx loop"]
        for name, micros in best.items():
            print(f"  {name:<44} {micros:>7.1f} us  {micros / floor:.2f}")
        return 0
    print(f"{n} creates, sandbox latency {args.latency:g} s, median of {args.repeat}")
    print(f"{'threads':>7}  {'run':<34} {'seconds':>8} {'per create':>11} {'vs httpx':>8}")
    for threads in (int(t) for t in args.threads.split(",")):
        # interleaved, so that the machine's noise falls on every kind alike
        kinds = [] if args.tools_only else list(LOOPS)
        kinds += ["off"] + (["untold"] if args.untold else [])
        times: dict[str, list[float]] = {}
        failed: dict[str, str] = {}
        for _ in range(args.repeat):
            for kind in kinds:
                if kind in LOOPS:
                    seconds, why = run_loop(kind, n, threads, args.latency)
                    times.setdefault(f"{kind} loop", []).append(seconds)
                    failed[f"{kind} loop"] = failed.get(f"{kind} loop") or why
                    continue
                rate = None if kind == "untold" else "off"
                phase, whole, why = run_tool(n, threads, args.latency, rate)
                told = "--rate-limit off" if kind == "off" else "not told"
                times.setdefault(f"tool, create phase ({told})", []).append(phase)
                times.setdefault(f"tool, whole apply ({told})", []).append(whole)
                name = f"tool, whole apply ({told})"
                failed[name] = failed.get(name) or why
        rows = [(name, median(values)) for name, values in times.items()]
        floor = dict(rows).get("httpx loop")
        for name, seconds in rows:
            ratio = f"{seconds / floor:.2f}" if floor and "create phase" in name else ""
            line = f"{threads:>7}  {name:<34} {seconds:>8.2f} {1000 * seconds / n:>8.2f} ms"
            print(f"{line} {ratio:>8}" + (f"  FAILED: {failed[name]}" if failed.get(name) else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
