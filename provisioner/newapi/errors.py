"""One exception hierarchy for everything the server can do to us.

Each is a :class:`~provisioner.errors.ProvisionerError` whose class sets the
exit code. Messages never contain a credential or a key. The tree (exit codes in
brackets; the whole project's tree is drawn in :mod:`provisioner.errors`)::

    NewApiError (1)                  any failure talking to the server
    ├── ConnectionFailedError (1)    no answer after the retries: timeout, reset, refused
    │   └── UnreachableError (69)    not reachable at all at the first probe (DNS, refused)
    ├── NotNewApiError (69)          the URL answers, but not as a new-api server
    ├── UnsupportedError (69)        the server lacks a route or dialect the operation needs
    ├── AuthError (77)               the credential is refused (401/403, or a 200 saying so)
    │   └── ScopeError (77)          a scoped access token lacks a scope (nothing was sent)
    ├── RateLimitedError (1)         429 after every retry the budget allowed
    ├── ServerError (1)              5xx after the retries, or a malformed answer
    ├── BusinessError (1)            200 with success: false: the server refused, its words
    └── AmbiguousWriteError (1)      a create that may or may not have committed

``ConnectionFailedError`` is ours, not httpx's ``NetworkError``: the transport turns
every httpx error into one of these.
"""

from __future__ import annotations

from provisioner.errors import ProvisionerError
from provisioner.exitcodes import ExitCode

__all__ = [
    "AmbiguousWriteError",
    "AuthError",
    "BusinessError",
    "ConnectionFailedError",
    "NewApiError",
    "NotNewApiError",
    "RateLimitedError",
    "ScopeError",
    "ServerError",
    "UnreachableError",
    "UnsupportedError",
]


class NewApiError(ProvisionerError):
    """Base of every client error."""

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.path = path

    def __str__(self) -> str:
        where = f" ({self.method} {self.path})" if self.method else ""
        return f"{self.message}{where}"


class ConnectionFailedError(NewApiError):
    """A request failed in transport after the retries (timeout, reset, refused)."""


class UnreachableError(ConnectionFailedError):
    """The server could not be reached at all (DNS, connection refused) at the first probe."""

    exit_code = ExitCode.UNAVAILABLE


class NotNewApiError(NewApiError):
    """The URL answers, but not as a new-api server (HTML page, proxy error, 404 on /api/status)."""

    exit_code = ExitCode.UNAVAILABLE


class UnsupportedError(NewApiError):
    """The server lacks something the operation needs (a route, a dialect)."""

    exit_code = ExitCode.UNAVAILABLE


class AuthError(NewApiError):
    """401/403, or the header generation's HTTP-200 'access token invalid'.

    docs/server-contract.md#auth-failures
    """

    exit_code = ExitCode.AUTH

    def __init__(
        self, message: str, *, code: str = "", status: int = 0, said: str = "", **kw: str
    ) -> None:
        super().__init__(message, **kw)
        self.code = code
        self.status = status
        self.said = said  # the server's own message, cleaned (empty when it gave none)


class ScopeError(AuthError):
    """A scoped access token (rc.41+) lacks a scope an operation needs; nothing was sent
    that needs it (docs/server-contract.md#authentication).

    ``granted`` is what is known of each scope the tool uses (True, False, or None when
    not asked); ``missing`` the ones the operation needs and the token lacks.
    """

    def __init__(
        self,
        message: str,
        *,
        missing: tuple[str, ...] = (),
        granted: dict[str, bool | None] | None = None,
        **kw: str,
    ) -> None:
        super().__init__(message, code="ACCESS_TOKEN_SCOPE_DENIED", status=403, **kw)
        self.missing = missing
        self.granted = dict(granted or {})


class RateLimitedError(NewApiError):
    """429 after every retry the budget allowed (docs/server-contract.md#rate-limits)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: str) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(NewApiError):
    """5xx after retries, or a malformed API response."""

    def __init__(self, message: str, *, status: int = 0, **kw: str) -> None:
        super().__init__(message, **kw)
        self.status = status


class BusinessError(NewApiError):
    """HTTP 200 with ``success: false``: the server refused, with its own message.

    docs/server-contract.md#envelope-and-errors
    """


class AmbiguousWriteError(NewApiError):
    """A non-idempotent write (create POST) may or may not have committed.

    The caller must re-list to find out; the client never re-sends it
    (docs/server-contract.md#creating-a-token).
    ``timed_out`` is True when no answer came in time: the server may still be working
    on the request, so a re-list that does not show it yet proves nothing.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        timed_out: bool = False,
        reason: str = "",
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.timed_out = timed_out
        self.reason = reason  # what happened, alone: "no answer within 30 s (timeout)"
