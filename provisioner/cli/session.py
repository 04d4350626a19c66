"""The imperative shell shared by server commands: load the spec, connect, log.

It turns flags, environment and the spec's ``server.url`` into a connected
client (or an embedded sandbox for ``--sandbox``), and maps every failure on
the way to a message and an exit code.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioner.cli.options import Common, ServerOptions
from provisioner.cli.progress import ProgressBoard
from provisioner.errors import ProvisionerError, UsageError
from provisioner.exitcodes import ExitCode

if TYPE_CHECKING:
    from provisioner.newapi.client import NewApiClient
    from provisioner.newapi.ratelimit import RateSetting
    from provisioner.observed import ObservedToken, ServerInfo
    from provisioner.secret import Secret
    from provisioner.spec.desired import Spec


class Log:
    """Logs and progress to stderr; data goes to stdout (docs/commands.md#commands)."""

    def __init__(self, common: Common) -> None:
        self.quiet = common.quiet
        self.verbose = common.verbose

    def info(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr)

    def debug(self, message: str, level: int = 1) -> None:
        if self.verbose >= level:
            print(message, file=sys.stderr)

    def error(self, message: str) -> None:
        print(f"error: {message}", file=sys.stderr)


def load_spec_or_fail(path: str, log: Log) -> Spec:
    """Load the spec; a file that fails to load never becomes an empty desired set."""
    from provisioner.spec import SpecError, load_spec

    try:
        spec = load_spec(path)
    except SpecError as exc:
        for diagnostic in exc.diagnostics:
            print(str(diagnostic), file=sys.stderr)
        raise ProvisionerError(
            f"{path}: invalid spec ({len(exc.diagnostics)} "
            f"error{'' if len(exc.diagnostics) == 1 else 's'}); nothing was sent to the "
            "server. Run `provisioner validate` for details.",
            ExitCode.INVALID_SPEC,
        ) from None
    for warning in spec.warnings:
        log.info(f"warning: {warning}")
    from provisioner.cli.paths import resolve_sink

    # keys.to's path is relative to the spec's folder (cli/paths.py)
    return resolve_sink(spec, path, sink_warning(log))


def load_optional_spec(common: Common, log: Log) -> Spec | None:
    """The spec for commands that can do without one (rotate, reveal, test, revoke, scan).

    The default tokens.yaml may be missing; a file named with ``-f`` may not, and
    ``-f -`` reads stdin.
    """
    from provisioner.spec.loader import STDIN

    file = common.file
    if file == STDIN or Path(file).exists():
        return load_spec_or_fail(file, log)
    if common.file_given:
        raise UsageError(f"{file}: no such file (-f names the spec file)")
    return None


def sink_warning(log: Log) -> Callable[[str], None]:
    """How a warning about a path (a key file git would commit, a file kept in the
    working folder) reaches stderr."""
    return lambda message: log.info(f"warning: {message}")


def _parse_rate(text: str | None) -> RateSetting:
    """``--rate-limit`` (checked by the parser), else PROVISIONER_RATE_LIMIT, else the default:
    full speed until the server's first 429 teaches its limit (docs/performance.md)."""
    from provisioner.cli.options import rate, variable
    from provisioner.newapi.ratelimit import LEARN

    if text:
        return rate(text)
    env = os.environ.get("PROVISIONER_RATE_LIMIT")
    if env is not None and env.strip():
        return variable("PROVISIONER_RATE_LIMIT", rate, env)
    return LEARN


_RETRY_FIELDS = {
    "attempts": "max_attempts",
    "attempts_500": "max_500_attempts",
    "base": "base",
    "cap": "cap",
    "max_time": "max_retry_time",
    "rate_wait": "max_rate_limit_wait",
    "rate_window": "rate_window",
}


def _parse_retry(text: str | None) -> Any:
    """``PROVISIONER_RETRY="attempts=3,base=0.01,max_time=2"``: a RetryPolicy, or None.

    A tuning knob for CI and tests (docs/robustness.md); unset keeps the defaults.
    """
    if not text or not text.strip():
        return None
    from provisioner.cli.options import BadValue, number
    from provisioner.newapi.retry import RetryPolicy

    values: dict[str, float] = {}
    for part in text.split(","):
        key, sep, raw = part.strip().partition("=")
        field_name = _RETRY_FIELDS.get(key.strip())
        if not sep or field_name is None:
            raise UsageError(
                f"PROVISIONER_RETRY={text!r} in the environment: expected comma-separated "
                f"{'|'.join(_RETRY_FIELDS)}=NUMBER, e.g. attempts=3,base=0.01,max_time=2",
            )
        try:
            values[field_name] = number(raw, low=0, high=86400, what="a number")
        except BadValue as exc:
            raise UsageError(
                f"PROVISIONER_RETRY={text!r} in the environment: {key.strip()}: {exc}"
            ) from None
    for name in ("max_attempts", "max_500_attempts"):
        if name in values:
            values[name] = max(1, int(values[name]))
    return RetryPolicy(**values)  # type: ignore[arg-type]


@dataclass
class Connection:
    """A probed client, and every token of the account as read right after the probe.

    ``inventory`` holds the user's tokens; ``locks`` the lock tokens of applies
    (never shown as tokens, but they count against the account's cap).
    """

    client: NewApiClient
    url: str
    credential: Secret
    inventory: list[ObservedToken]
    locks: list[ObservedToken]
    progress: ProgressBoard
    sandbox: Any = None  # the embedded Sandbox, if any
    paced: bool = True  # paced to a told limit (not told: full speed until a 429 teaches it)
    verify: Any = True  # the TLS setting (a custom CA applies to the relay too)

    def relist(self) -> None:
        """Read every token again (after taking the lock: what others did is seen)."""
        from provisioner.lease import split_locks

        self.inventory, self.locks = split_locks(self.client.list_tokens())

    @property
    def info(self) -> ServerInfo:
        """What the client has learned about the server so far (it learns as it goes)."""
        info = self.client.info
        assert info is not None
        return info

    @property
    def origin(self) -> str:
        """What a sink records as the server of this connection's keys: its URL, or for the
        embedded sandbox (a new port at every run) its state file (docs/sinks.md)."""
        if self.sandbox is None:
            return self.url
        from provisioner.keystore.sinks import SANDBOX_ORIGIN

        return SANDBOX_ORIGIN + str(Path(self.sandbox.store.path).resolve())

    @property
    def user_label(self) -> str:
        if self.info.username:
            return f"{self.info.username} (#{self.info.user_id})"
        return f"#{self.info.user_id}" if self.info.user_id else ""


def _request_logger(log: Log):  # type: ignore[no-untyped-def]
    def on_request(method: str, route: str, status: int, seconds: float) -> None:
        log.debug(f"  {route} -> {status} ({seconds * 1000:.0f} ms)", level=2)

    return on_request


def spec_for_url(server: ServerOptions, common: Common) -> Spec | None:
    """The spec, only as a fallback for the server URL (check, unlock): None when ``--url``
    or ``--sandbox`` names the server. A broken or missing file is no reason to stop here,
    and neither are dates in it."""
    if server.url or server.sandbox:
        return None
    from provisioner.spec import SpecError, load_spec

    try:
        return load_spec(common.file)
    except (SpecError, OSError):
        return None


@contextmanager
def connect(
    server: ServerOptions,
    log: Log,
    spec: Spec | None = None,
    *,
    spec_file: str | None,
    needs: str = "",
) -> Iterator[Connection]:
    """A probed client for the server named by flags, env or the spec.

    ``spec_file`` is the spec file the command works with (``-f``, or a saved plan's): the
    embedded sandbox (``--sandbox``) keeps its state next to it, whether or not the
    command loaded it, so every command opens the same sandbox (cli/paths.py).
    ``needs`` names a command of :data:`provisioner.cli.scopes.COMMANDS`: a scoped access
    token lacking a scope it needs is refused (77) before anything else is sent.
    """
    from provisioner.keystore.credentials import (
        resolve_credential,
        resolve_user_id,
        ssl_verify_setting,
    )
    from provisioner.keystore.urls import check_url
    from provisioner.lease import split_locks
    from provisioner.newapi.client import NewApiClient
    from provisioner.newapi.retry import RetryPolicy
    from provisioner.newapi.transport import TransportSettings
    from provisioner.secret import Secret

    timeout = server.timeout or 30.0
    retry_policy = _parse_retry(os.environ.get("PROVISIONER_RETRY"))
    sandbox = None
    user_id_source = "NEWAPI_USER_ID"
    if server.sandbox:
        from provisioner.cli.paths import sandbox_state
        from provisioner.sandbox import Sandbox
        from provisioner.sandbox.store import SandboxStateError

        # the store makes the folder (0700), or says why it cannot (sandbox/store.py)
        # The newcomer's sandbox offers the `auto` group (examples/tokens.yaml uses it);
        # `provisioner sandbox` follows the recorded servers unless --auto-group.
        # next to the spec file, like the paths in it (cli/paths.py)
        state = str(sandbox_state(spec_file, sink_warning(log)))
        try:
            sandbox = Sandbox(db_path=state, auto_group=True).start(port=0)
        except SandboxStateError as exc:  # the state file is not a sandbox's database
            raise ProvisionerError(str(exc), exc.exit_code) from None
        url = sandbox.url
        # bearer servers need no user id; leaving it out lets the probe see the dialect
        credential, user_id = Secret(sandbox.credential), None
        rate = _parse_rate(server.rate_limit) if server.rate_limit else None
        verify: Any = True
        log.info(f"sandbox: {url} (state in {state})")
    else:
        file_url = spec.server_url if spec else None
        raw_url = server.url or os.environ.get("NEWAPI_URL") or file_url
        if not raw_url:
            raise UsageError(
                "no server URL: pass --url, set NEWAPI_URL, or set server.url in the file "
                "(or try --sandbox)",
            )
        url = check_url(raw_url, insecure_http=server.insecure_http)
        rate = _parse_rate(server.rate_limit)
        credential, source = resolve_credential(url)
        user_id = resolve_user_id(os.environ, url)
        if not os.environ.get("NEWAPI_USER_ID", "").strip():
            user_id_source = "the user id `provisioner login` stored"
        verify = ssl_verify_setting()
        log.debug(f"credential from {source}")

    progress = ProgressBoard(sys.stderr, quiet=log.quiet)
    settings = TransportSettings(
        timeout=timeout,
        retry=retry_policy or RetryPolicy(),
        rate_limit=rate,
        on_request=_request_logger(log),
        on_wait=progress.waiting,
        on_notice=progress.note,
        verify=verify,
    )
    client = NewApiClient(
        url, credential, user_id, settings=settings, user_id_source=user_id_source
    )
    started = time.monotonic()
    try:
        info, first_page = client.open()
        if needs:
            from provisioner.cli.scopes import COMMANDS

            client.require_scopes(COMMANDS[needs])
        log.debug(
            f"server {url}: {info.version or 'unknown version'}, {info.generation}, "
            f"auth {info.auth}, list {info.list_shape}"
        )
        inventory, locks = split_locks(client.list_tokens(first_page))
        yield Connection(
            client,
            url,
            credential,
            inventory,
            locks,
            progress,
            sandbox,
            paced=isinstance(rate, tuple),
            verify=verify,
        )
    finally:
        progress.close()
        log.debug(
            f"{client.request_count} HTTP requests in {time.monotonic() - started:.2f} s: "
            + ", ".join(f"{k} x{v}" for k, v in sorted(client.request_counts.items())),
        )
        client.close()
        if sandbox is not None:
            sandbox.stop()


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops an apply the way Ctrl-C does: cleanly, with a report (exit 130)."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def confirm(yes: bool, verb: str = "apply", what: str = "these changes") -> None:
    """Ask on a terminal; refuse (64) without ``--yes`` when stdin is not one.

    Anything but ``yes`` is a no, and so is the end of input (Ctrl-D): nothing is done, exit 1.
    The question and the prompt go to stderr: stdout holds only the command's document.
    """
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            f"refusing to {verb} without confirmation: stdin is not a terminal; "
            f"pass --yes to {verb} non-interactively"
        )
    print(f"\nDo you want to {verb} {what}? Only 'yes' will be accepted.", file=sys.stderr)
    sys.stderr.write("  Enter a value: ")
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:  # end of input: Ctrl-D on a terminal
        sys.stderr.write("\n")
        raise ProvisionerError(f"{verb} cancelled: no answer (end of input); nothing was changed")
    if line.strip() != "yes":
        raise ProvisionerError(f"{verb} cancelled: the answer was not 'yes'; nothing was changed")
