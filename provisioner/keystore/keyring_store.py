"""The OS keyring, bounded: every call runs in a worker thread with a timeout.

A locked GNOME keyring, a D-Bus session that never answers or a backend
waiting for a GUI prompt must never hang a run. Each call here runs in a
daemon thread; if it does not finish within the timeout the caller gets
:class:`KeyringUnavailableError` and the thread is abandoned (daemon threads do not
keep the interpreter alive). After one timeout every later call in the same
process fails at once, so a hung backend costs the timeout only once.

``keyring`` is imported lazily, inside the worker thread: importing it and
choosing a backend can itself touch D-Bus.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from provisioner.errors import ProvisionerError, SettingError
from provisioner.keystore.urls import normalize_url
from provisioner.secret import Secret

DEFAULT_TIMEOUT = 5.0

ALTERNATIVES = (
    "Use NEWAPI_TOKEN or NEWAPI_TOKEN_FILE for the management credential, "
    "and a dotenv:PATH or json:PATH sink (--keys-to, keys.to) for new keys."
)

T = TypeVar("T")

# Set to a reason once a backend has hung; later calls fail fast.
_hung_reason: str | None = None
_hung_lock = threading.Lock()


class KeyringUnavailableError(ProvisionerError):
    """The OS keyring cannot be used (missing backend, locked, or no answer in time).

    The message is complete and names the alternatives; print it as is.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the OS keyring is unavailable: {reason}. {ALTERNATIVES}")


class InsecureKeyringError(KeyringUnavailableError):
    """The keyring backend would not keep secrets safe (a plaintext file, one that discards
    what it is given); refused unless the user opts in (docs/credentials.md#keyring-backends).
    """


#: Set to 1 to keep keys and credentials in a plaintext keyring backend anyway.
ALLOW_INSECURE = "PROVISIONER_KEYRING_ALLOW_INSECURE"


def service_name(server_url: str) -> str:
    """The keyring service for a server: ``provisioner:<normalized url>``.

    The URL is normalized as :func:`provisioner.keystore.urls.normalize_url`
    does (lower-case scheme and host, no trailing slash), so ``login``, the
    credential lookup and the keyring sink always agree on the name.
    """
    try:
        url = normalize_url(server_url)
    except SettingError:
        url = server_url.strip().rstrip("/")
    return f"provisioner:{url}"


def reset() -> None:
    """Forget an earlier timeout (for tests, or after the user unlocked the keyring)."""
    global _hung_reason
    with _hung_lock:
        _hung_reason = None


def _describe(exc: BaseException) -> str:
    """A reason for the message, without any value that could be a secret."""
    from keyring import errors

    if isinstance(exc, errors.NoKeyringError):
        return (
            "no keyring backend is available on this machine (keyring.backends.fail; "
            "PYTHON_KEYRING_BACKEND chooses one)"
        )
    if isinstance(exc, errors.KeyringLocked):
        return "the keyring is locked"
    name = type(exc).__name__
    # Backend errors (D-Bus, secretstorage) describe the transport, not values;
    # keep only the first line and bound it.
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    if isinstance(exc, errors.InitError):
        detail = f" ({text.rstrip('.')})" if text else ""
        return f"the keyring could not be opened, perhaps it is locked{detail}"
    return f"{name}: {text}" if text else name


def _call(func: Callable[[], T], timeout: float | None, what: str) -> T:
    global _hung_reason
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    with _hung_lock:
        if _hung_reason is not None:
            raise KeyringUnavailableError(_hung_reason)

    box: dict[str, Any] = {}
    done = threading.Event()

    def worker() -> None:
        try:
            box["value"] = func()
        except BaseException as exc:  # reported to the caller, never swallowed
            box["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=worker, name=f"keyring-{what}", daemon=True)
    thread.start()
    if not done.wait(timeout):
        reason = (
            f"the keyring did not answer within {timeout:g} s "
            "(locked, or waiting for an unlock prompt?)"
        )
        with _hung_lock:
            _hung_reason = reason
        raise KeyringUnavailableError(reason)
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, KeyringUnavailableError):
            raise exc
        if isinstance(exc, Exception):
            raise KeyringUnavailableError(_describe(exc)) from None
        raise exc
    return box["value"]  # type: ignore[no-any-return]


def _label(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__name__} ({cls.__module__})"


def insecurity(backend: Any) -> str | None:
    """Why ``backend`` must not hold secrets (None: it may): it writes them to a plaintext
    file, or discards them. Judged by class, so it holds for any backend of those kinds."""
    cls = type(backend)
    module, name = cls.__module__, cls.__name__
    if module == "keyring.backends.null" or name == "NullKeyring":
        return "it discards whatever it is given, so a key stored there is lost"
    if "plaintext" in name.lower():  # keyrings.alt.file.PlaintextKeyring, pyfs's, ...
        where = getattr(backend, "file_path", "")
        return "it keeps secrets in a plaintext file" + (f" ({where})" if where else "")
    return None


def _backend() -> Any:
    """The backend to use: the chainer resolved to its best safe member; a plaintext or
    null backend refused unless PROVISIONER_KEYRING_ALLOW_INSECURE=1 (plaintext only)."""
    import os

    import keyring
    from keyring.backends import fail
    from keyring.errors import NoKeyringError

    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        raise NoKeyringError()
    members = getattr(backend, "backends", None)
    if members is not None:  # the chainer: falls through to later members when one fails
        if not members:
            raise NoKeyringError()  # behaves like fail
        safe = [m for m in members if not isinstance(m, fail.Keyring) and not insecurity(m)]
        if safe:
            # never the chain itself: a locked Secret Service would fall through to a
            # plaintext file behind it without a word
            return safe[0]
        backend = members[0]
    why = insecurity(backend)
    if why is None:
        return backend
    allowed = os.environ.get(ALLOW_INSECURE, "") == "1"
    if allowed and "plaintext" in why:
        return backend
    way_out = (
        f"Choose another backend (PYTHON_KEYRING_BACKEND), or set {ALLOW_INSECURE}=1 to use "
        "this one anyway"
        if "plaintext" in why
        else "Choose another backend (PYTHON_KEYRING_BACKEND)"
    )
    raise InsecureKeyringError(
        f"the keyring backend is {_label(backend)}, and {why}; refusing to keep keys or "
        f"credentials there. {way_out}"
    )


def get_secret(service: str, username: str, *, timeout: float | None = None) -> Secret | None:
    """The stored value, or None when there is no entry."""

    def get() -> str | None:
        value = _backend().get_password(service, username)
        return value if isinstance(value, str) else None

    value = _call(get, timeout, "get")
    return None if value is None else Secret(value)


def set_secret(service: str, username: str, value: Secret, *, timeout: float | None = None) -> None:
    """Store (or replace) an entry."""
    _call(lambda: _backend().set_password(service, username, value.reveal()), timeout, "set")


def delete_secret(service: str, username: str, *, timeout: float | None = None) -> bool:
    """Delete an entry; False when there was none."""

    def delete() -> bool:
        from keyring.errors import PasswordDeleteError

        try:
            _backend().delete_password(service, username)
        except PasswordDeleteError:
            return False
        return True

    return _call(delete, timeout, "delete")


def backend_name(*, timeout: float | None = None) -> str:
    """A human name of the active backend, e.g. ``PlaintextKeyring (keyrings.alt.file)``,
    if it may hold secrets (a plaintext one only when allowed); raises
    :class:`KeyringUnavailableError` (:class:`InsecureKeyringError` for a plaintext or null
    one) otherwise."""
    return _call(lambda: _label(_backend()), timeout, "backend")
