"""Key sinks: where new or revealed keys go (docs/sinks.md#key-sinks-where-new-keys-go).

A sink is chosen with ``--keys-to`` or ``keys.to``::

    keyring            the OS keyring: service provisioner:<server url>, user = key name
    dotenv:PATH        KEY_NAME=sk-... lines, merged into PATH (0600, atomic)
    json:PATH          {"KEY_NAME": "sk-..."} merged into PATH (0600, atomic)
    exec:CMD ARGS...   one run per key, the key on stdin; {name}, {key_name} in ARGS
    stdout             KEY_NAME=sk-... on stdout (only when chosen explicitly)

Every sink returns one :class:`DeliveryResult` per key, so ``apply`` can
disable exactly the new tokens whose keys did not arrive (docs/reconcile.md,
transactional delivery). Errors never contain a key.

The caller passes each key already in its delivered form (``sk-`` + the
server's key, docs/server-contract.md#lazy-status); sinks store what they get.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from provisioner.keystore.atomic import atomic_write
from provisioner.secret import Secret

SINK_FORMS = (
    "keyring | dotenv:PATH | json:PATH | exec:CMD ARGS... | stdout "
    "(e.g. dotenv:.env.keys, json:~/keys.json, exec:vault kv put secret/{name} key=-)"
)

EXEC_TIMEOUT = 60.0


def stdout_refusal(what: str, output: str) -> str:
    """Why ``stdout`` cannot take keys with ``--output json|markdown`` (docs/sinks.md#stdout)."""
    return (
        f"{what} cannot be used with --output {output}: the keys would be mixed into the "
        f"{output} on stdout. Use --output text, or another sink (keyring, dotenv:PATH, "
        "json:PATH, exec:CMD...)"
    )


ENV_KEY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Origin:
    """The server and account a key came from, recorded next to it in the sink
    (docs/sinks.md#one-sink-one-server)."""

    server: str
    user: int | None = None

    def text(self) -> str:
        return self.server + (f" user {self.user}" if self.user is not None else "")

    def same_as(self, other: Origin) -> bool:
        """One server, and one account where both are known."""
        if _normal(self.server) != _normal(other.server):
            return False
        return self.user is None or other.user is None or self.user == other.user

    @classmethod
    def parse(cls, text: str) -> Origin | None:
        match = _ORIGIN_TEXT.fullmatch(text.strip())
        if not match:
            return None
        user = match.group(2)
        return cls(match.group(1), int(user) if user else None)


_ORIGIN_TEXT = re.compile(r"(\S+)(?: user (\d+))?")


def _normal(url: str) -> str:
    from provisioner.keystore.urls import normalize_url

    try:
        return normalize_url(url)
    except Exception:  # a recorded origin is text from a file: compare it as it is
        return url.strip().rstrip("/").lower()


#: How an embedded sandbox (``--sandbox``) is named in a sink: its URL has a new port at
#: every run, its state file stays (``sandbox:/abs/path/.provisioner/sandbox.db``).
SANDBOX_ORIGIN = "sandbox:"


def host_label(server_url: str) -> str:
    """What ``{host}`` in a sink path becomes: the URL's host, ``-PORT`` when it names one."""
    from urllib.parse import urlsplit

    if server_url.startswith(SANDBOX_ORIGIN):
        return "sandbox"
    parts = urlsplit(server_url)
    host = (parts.hostname or "server").strip("[]").replace(":", "-")
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}-{port}" if port else host


def other_server_refusal(where: str, key_name: str, held: Origin, wanted: Origin) -> str:
    """Why a sink will not overwrite another server's (or account's) key, and the way out."""
    return (
        f"{where} holds {key_name} for {held.text()}, not for {wanted.text()}; refusing to "
        "overwrite another server's key. Give each server a file of its own with {host} in "
        "the path, e.g. dotenv:keys.{host}.env (or set key_name in the spec)"
    )


@dataclass(frozen=True)
class KeyDelivery:
    """One key to deliver: the token ``name``, the ``key_name`` it is stored under, and
    the server (and account, when known) it came from."""

    name: str
    key_name: str
    key: Secret
    server_url: str
    user_id: int | None = None
    origin_server: str = ""  # the server's lasting name, when its URL changes (--sandbox)

    @property
    def origin(self) -> Origin:
        return Origin(self.origin_server or self.server_url, self.user_id)


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome for one key. ``error`` and ``where`` never contain the key."""

    name: str
    ok: bool
    error: str = ""
    where: str = ""


@runtime_checkable
class Sink(Protocol):
    """Delivers keys; one result per item, in the same order."""

    @property
    def description(self) -> str:
        """The sink as the user wrote it (for reports)."""
        ...

    def deliver(self, items: list[KeyDelivery]) -> list[DeliveryResult]: ...


# --------------------------------------------------------------------------- parsing


def parse_sink(text: str) -> Sink:
    """Parse a sink specification; ValueError with a hint listing the forms."""
    raw = text.strip()
    if raw == "keyring":
        return KeyringSink()
    if raw == "stdout":
        return StdoutSink()
    kind, sep, rest = raw.partition(":")
    if not sep:
        raise ValueError(f"unknown key sink {raw!r}; use {SINK_FORMS}")
    if kind in ("dotenv", "json"):
        path_text = rest.strip()
        if not path_text:
            example = "keys.env" if kind == "dotenv" else "keys.json"
            raise ValueError(f"{kind}: needs a file path, e.g. {kind}:{example}")
        path = Path(path_text).expanduser()
        return DotenvSink(path) if kind == "dotenv" else JsonSink(path)
    if kind == "exec":
        try:
            argv = shlex.split(rest)
        except ValueError as exc:
            raise ValueError(f"exec: cannot split the command ({exc}); check the quotes") from None
        if not argv:
            raise ValueError("exec: needs a command, e.g. exec:vault kv put secret/{name} key=-")
        return ExecSink(argv)
    raise ValueError(f"unknown key sink {raw!r}; use {SINK_FORMS}")


def validate_sink_text(text: str) -> str | None:
    """An error message for a bad sink specification, or None when it parses."""
    try:
        parse_sink(text)
    except ValueError as exc:
        return str(exc)
    return None


# --------------------------------------------------------------------------- helpers


def _reveal_all(items: Iterable[KeyDelivery]) -> list[str]:
    values: list[str] = []
    for item in items:
        raw = item.key.reveal()
        values.append(raw)
        if raw.startswith("sk-"):
            values.append(raw[3:])
    return [v for v in values if v]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of a secret value in ``text`` by its masked form."""
    from provisioner.secret import mask

    for value in sorted(set(secrets), key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, mask(value))
    return text


# --------------------------------------------------------------------------- keyring


@dataclass
class KeyringSink:
    """Each key under service ``provisioner:<server url>``, user = key name."""

    timeout: float = 5.0

    @property
    def description(self) -> str:
        return "keyring"

    def deliver(self, items: list[KeyDelivery]) -> list[DeliveryResult]:
        from provisioner.keystore import keyring_store

        results = []
        for item in items:
            service = keyring_store.service_name(item.server_url)
            where = f"keyring service {service!r} user {item.key_name!r}"
            try:
                recorded = self.recorded_origins([item.key_name], server_url=item.server_url)
                held = recorded.get(item.key_name)
                if held is not None and not held.same_as(item.origin):
                    refusal = other_server_refusal(where, item.key_name, held, item.origin)
                    results.append(DeliveryResult(item.name, False, refusal, where))
                    continue
                keyring_store.set_secret(service, item.key_name, item.key, timeout=self.timeout)
                keyring_store.set_secret(
                    service,
                    origin_entry(item.key_name),
                    Secret(item.origin.text()),
                    timeout=self.timeout,
                )
            except keyring_store.KeyringUnavailableError as exc:
                results.append(DeliveryResult(item.name, False, str(exc), where))
                continue
            results.append(DeliveryResult(item.name, True, "", where))
        return results

    def recorded_origins(
        self, key_names: Iterable[str], *, server_url: str, text: str | None = None
    ) -> dict[str, Origin]:
        """The origin recorded beside each of ``key_names`` that has one, in the service of
        ``server_url``: where :meth:`deliver` wrote it, also under ``--sandbox`` (whose
        origin is its state file, not its URL). ``text`` is a file sink's."""
        from provisioner.keystore import keyring_store

        service = keyring_store.service_name(server_url)
        found = {}
        for name in key_names:
            entry = keyring_store.get_secret(service, origin_entry(name), timeout=self.timeout)
            origin = None if entry is None else Origin.parse(entry.reveal())
            if origin is not None:
                found[name] = origin
        return found

    def remove(self, key_names: Iterable[str], *, server_url: str, text: str | None = None) -> None:
        """Delete the entries ``key_names`` and their recorded origins from the service of
        ``server_url`` (``text`` is a file sink's)."""
        from provisioner.keystore import keyring_store

        service = keyring_store.service_name(server_url)
        for name in key_names:
            keyring_store.delete_secret(service, name, timeout=self.timeout)
            keyring_store.delete_secret(service, origin_entry(name), timeout=self.timeout)


def origin_entry(key_name: str) -> str:
    """The keyring user under which a key's origin is kept, beside the key itself: the
    service already names the server, this names the account (docs/sinks.md)."""
    return f"{key_name}:origin"


# --------------------------------------------------------------------------- files


HOST_PLACEHOLDER = "{host}"


class FileSink:
    """Shared by dotenv and json: merge, 0600, atomic replace, no symlinks.

    :meth:`check_target` says why PATH is no place for keys (before anything is
    sent to a server); :meth:`deliver` checks again before it writes.
    """

    kind = ""

    def __init__(self, path: Path, spec_path: Path | None = None) -> None:
        self.path = Path(path)
        self.spec_path = spec_path  # the spec file: never a place for keys

    @property
    def description(self) -> str:
        return f"{self.kind}:{self.path}"

    def for_server(self, server_url: str) -> None:
        """Put the server's host in place of ``{host}`` in the path (docs/sinks.md)."""
        if HOST_PLACEHOLDER in str(self.path):
            self.path = Path(str(self.path).replace(HOST_PLACEHOLDER, host_label(server_url)))

    def check_target(self) -> str:
        """Why PATH must not receive keys, or ``""`` when it may."""
        return self._read_target()[1]

    def _read_target(self) -> tuple[str | None, str]:
        """PATH's text (None: no file yet, or none to read) and why PATH must not receive
        keys (``""`` when it may): one read serves the check, the origins and the merge."""
        if self.spec_path is not None and _same_file(self.path, self.spec_path):
            return None, f"{self.path} is the spec file itself; point the sink at a file of its own"
        if self.path.is_symlink():
            return None, (
                f"{self.path} is a symbolic link; refusing to write through it or replace it. "
                "Point the sink at the real file."
            )
        if self.path.exists() and not self.path.is_file():
            return None, f"{self.path} exists and is not a regular file"
        if not self.path.exists():
            return None, ""
        try:
            existing = self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            return None, f"{self.path} is not a UTF-8 text file; refusing to write keys into it"
        except OSError as exc:
            return None, f"cannot read {self.path}: {exc.strerror or exc}"
        return existing, self._content_problem(existing)

    def _content_problem(self, existing: str) -> str:
        """Why the existing content is not this sink's format, or ``""``."""
        return ""

    def _accepts(self, item: KeyDelivery) -> str:
        """An error for a key name this format cannot hold, or ``""``."""
        return ""

    def _merge(
        self, existing: str | None, entries: dict[str, str], origins: dict[str, Origin]
    ) -> str:
        raise NotImplementedError

    def _removed(self, text: str, doomed: list[str]) -> str:
        """``text`` without the entries ``doomed`` and their recorded origins."""
        raise NotImplementedError

    def remove(self, key_names: Iterable[str], *, server_url: str, text: str | None = None) -> None:
        """Remove the entries ``key_names`` and their recorded origins from the file (its
        ``text`` when already read; ``server_url`` names a keyring's service: a file is its
        own place)."""
        if text is None:
            text = _read_existing(self.path) or ""
        write_private(self.path, self._removed(text, list(key_names)))

    def origins(self, text: str | None) -> dict[str, Origin]:
        """The origin recorded for each key name in the file's ``text`` (none: not recorded)."""
        raise NotImplementedError

    def recorded_origins(
        self, key_names: Iterable[str], *, server_url: str = "", text: str | None = None
    ) -> dict[str, Origin]:
        """The origin recorded for each of ``key_names`` that has one, in the file (its
        ``text`` when already read, ``""`` for no file; ``server_url`` names a keyring's
        service: a file is its own place)."""
        if text is None:
            text = _read_existing(self.path) if self.path.exists() else None
        recorded = self.origins(text)
        return {name: recorded[name] for name in key_names if name in recorded}

    def deliver(self, items: list[KeyDelivery]) -> list[DeliveryResult]:
        where = str(self.path)
        results: dict[int, DeliveryResult] = {}
        entries: dict[str, str] = {}
        origins: dict[str, Origin] = {}
        existing, unwritable = self._read_target()  # the one read: origins, then the merge
        recorded = self.recorded_origins([item.key_name for item in items], text=existing or "")
        for index, item in enumerate(items):
            problem = self._accepts(item)
            held = recorded.get(item.key_name)
            if not problem and held is not None and not held.same_as(item.origin):
                problem = other_server_refusal(where, item.key_name, held, item.origin)
            if problem:
                results[index] = DeliveryResult(item.name, False, problem, where)
            else:
                entries[item.key_name] = item.key.reveal()
                origins[item.key_name] = item.origin
        if entries:
            try:
                if unwritable:
                    raise ValueError(unwritable)
                write_private(self.path, self._merge(existing, entries, origins))
            except (OSError, ValueError) as exc:
                message = scrub(_os_message(exc, self.path), _reveal_all(items))
                for index, item in enumerate(items):
                    results.setdefault(index, DeliveryResult(item.name, False, message, where))
        return [
            results.get(index, DeliveryResult(item.name, True, "", where))
            for index, item in enumerate(items)
        ]


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.expanduser().resolve() == b.expanduser().resolve()
    except (OSError, RuntimeError):
        return False


def git_warning(path: Path, *, timeout: float = 5.0) -> str:
    """A warning when PATH lies in a git work tree and git does not ignore it, else ``""``.

    Asks ``git check-ignore``; with no git, outside a work tree, or when git
    fails, there is nothing to warn about.
    """
    import subprocess

    target = Path(path).expanduser().absolute()
    directory = target.parent
    while not directory.is_dir():  # the sink creates missing folders
        if directory.parent == directory:
            return ""
        directory = directory.parent
    try:
        result = subprocess.run(
            ["git", "-C", str(directory), "check-ignore", "-q", "--", str(target)],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    if result.returncode != 1:  # 0: ignored; 128: not a work tree, or git failed
        return ""
    where = gitignore_line(target, timeout=timeout)
    line = f" (the line {where[1]} in {where[0]})" if where else ""
    return f"{path} is inside a git work tree and not ignored: add it to .gitignore{line}"


def gitignore_line(path: Path, *, timeout: float = 5.0) -> tuple[Path, str] | None:
    """The work tree's top .gitignore and the line that ignores exactly ``path`` there
    (``/secrets/keys.env``: anchored, so no file of that name elsewhere is ignored);
    None outside a work tree or without git."""
    import subprocess

    target = Path(path).expanduser().absolute()
    directory = target.parent
    while not directory.is_dir():
        if directory.parent == directory:
            return None
        directory = directory.parent
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--show-toplevel"],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    top = done.stdout.decode("utf-8", "surrogateescape").strip()
    if done.returncode != 0 or not top:
        return None
    real = Path(os.path.realpath(directory)) / target.relative_to(directory)
    try:
        relative = real.relative_to(Path(os.path.realpath(top)))
    except ValueError:
        return None
    # a name with characters .gitignore reads as a pattern gets them escaped
    line = "/" + re.sub(r"([\\*?\[\]!# ])", r"\\\1", relative.as_posix())
    return Path(top) / ".gitignore", line


def _os_message(exc: BaseException, path: Path) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        target = exc.filename or path
        return f"cannot write {target}: {exc.strerror}"
    return str(exc)


def _read_existing(path: Path) -> str | None:
    if path.is_symlink():
        raise ValueError(
            f"{path} is a symbolic link; refusing to write through it or replace it. "
            "Point the sink at the real file."
        )
    if path.exists() and not path.is_file():
        raise ValueError(f"{path} exists and is not a regular file")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def make_private_folders(folder: Path) -> None:
    """Create ``folder`` and each missing parent with mode 0700; folders that exist are left
    as they are. (``mkdir(parents=True, mode=0o700)`` gives only the last one that mode.)"""
    missing: list[Path] = []
    current = folder
    while not current.exists() and not current.is_symlink():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for each in reversed(missing):
        try:
            each.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made meanwhile by another run
        os.chmod(each, 0o700)  # whatever the umask


def write_private(path: Path, text: str) -> None:
    """Write a file of keys: its missing folders 0700, the file 0600, in one step."""
    make_private_folders(path.parent if str(path.parent) else Path("."))
    atomic_write(path, text, private=True)


# dotenv --------------------------------------------------------------------

_DOTENV_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=")
_DOTENV_PLAIN = re.compile(r"[A-Za-z0-9_\-.:/+=@%,]+\Z")
# Files that are something else than a dotenv file, whatever their content.
NOT_DOTENV_SUFFIXES = frozenset(
    {
        ".yaml",
        ".yml",
        ".json",
        ".toml",
        ".ini",
        ".cfg",
        ".py",
        ".js",
        ".ts",
        ".md",
        ".rst",
        ".html",
        ".xml",
        ".csv",
        ".lock",
        ".pem",
        ".key",
        ".crt",
    }
)


def first_non_dotenv_line(text: str) -> int:
    """The 1-based number of the first line that is not blank, a comment or ``KEY=VALUE``
    (``export`` allowed; a quoted value may span lines); 0 when every line is."""
    open_quote = ""
    for number, line in enumerate(text.splitlines(), 1):
        if open_quote:
            if open_quote in line:
                open_quote = ""
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _DOTENV_LINE.match(line)
        if not match:
            return number
        value = line[match.end() :].lstrip()
        if value[:1] in ("'", '"') and value.count(value[0]) == 1:
            open_quote = value[0]
    return 0


def dotenv_quote(value: str) -> str:
    """A value written so that shells, python-dotenv and node's dotenv read it back unchanged.

    Keys (``sk-`` + alphanumerics) need no quotes and are written bare, which
    also suits ``docker --env-file``. Anything else is single-quoted, or
    double-quoted with escapes when it holds a single quote.
    """
    if "\n" in value or "\r" in value or "\0" in value:
        raise ValueError("a value with a line break cannot be written to a dotenv file")
    if _DOTENV_PLAIN.match(value):
        return value
    if "'" not in value:
        return f"'{value}'"
    escaped = value
    for char in ("\\", '"', "$", "`"):
        escaped = escaped.replace(char, "\\" + char)
    return f'"{escaped}"'


def dotenv_unquote(text: str) -> str:
    """The inverse of :func:`dotenv_quote` (and plain ``KEY=value`` lines)."""
    text = text.strip()
    if text[:1] in ("'", '"'):
        close = _closing_quote(text)
        if close > 0:  # what follows the closing quote (a comment) is not the value
            inner = text[1:close]
            return inner if text[0] == "'" else re.sub(r"\\(.)", r"\1", inner)
    return text.split(" #", 1)[0].rstrip()


# ``# KEY_NAME: provisioner key of https://api.example.com user 5``, the line above the key:
# a comment, so every dotenv reader skips it (docs/sinks.md#one-sink-one-server).
_ORIGIN_COMMENT = re.compile(r"\s*# ([A-Za-z_][A-Za-z0-9_]*): provisioner key of (.+?)\s*\Z")


def origin_comment(key_name: str, origin: Origin) -> str:
    return f"# {key_name}: provisioner key of {origin.text()}"


def read_dotenv_origins(text: str) -> dict[str, Origin]:
    """The origin comment of each key name (keys written by 0.2 and earlier have none)."""
    found: dict[str, Origin] = {}
    for line in text.splitlines():
        match = _ORIGIN_COMMENT.match(line)
        if match:
            origin = Origin.parse(match.group(2))
            if origin is not None:
                found.setdefault(match.group(1), origin)
    return found


def read_dotenv(text: str) -> dict[str, str]:
    """Parse ``KEY=value`` lines (comments, blanks and ``export`` allowed)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        match = _DOTENV_LINE.match(line)
        if match:
            values[match.group(1)] = dotenv_unquote(line[match.end() :])
    return values


class DotenvSink(FileSink):
    """``KEY_NAME=sk-...`` lines; other lines (comments, other keys) are kept as they are."""

    kind = "dotenv"

    def _read_target(self) -> tuple[str | None, str]:
        suffix = self.path.suffix.lower()
        if suffix in NOT_DOTENV_SUFFIXES:
            return None, (
                f"{self.path} is a {suffix} file, not a dotenv file; refusing to write keys "
                "into it. Use a file of its own, e.g. dotenv:keys.env"
            )
        return super()._read_target()

    def _content_problem(self, existing: str) -> str:
        line = first_non_dotenv_line(existing)
        if not line:
            return ""
        return (
            f"{self.path} is not a dotenv file (line {line} is not KEY=VALUE, a comment or "
            "blank); refusing to write keys into it. Use a file of its own, e.g. dotenv:keys.env"
        )

    def _accepts(self, item: KeyDelivery) -> str:
        if not ENV_KEY_NAME.match(item.key_name):
            return (
                f"key name {item.key_name!r} is not a valid environment variable name "
                "(letters, digits, _; not starting with a digit); set key_name in the spec"
            )
        return ""

    def origins(self, text: str | None) -> dict[str, Origin]:
        return read_dotenv_origins(text or "")

    def _merge(
        self, existing: str | None, entries: dict[str, str], origins: dict[str, Origin]
    ) -> str:
        lines = existing.splitlines() if existing else []
        pending = dict(entries)
        out: list[str] = []
        assignments = exported = 0
        continued = ""  # the quote of a value that goes on over the next lines
        replacing = False  # ... and whether that value is being replaced (its lines go)
        for line in lines:
            if continued:
                if continued in line:
                    continued = ""
                if not replacing:
                    out.append(line)
                continue
            note = _ORIGIN_COMMENT.match(line)
            if note and note.group(1) in entries:
                continue  # rewritten right above its key below
            match = None if line.lstrip().startswith("#") else _DOTENV_LINE.match(line)
            if match:
                assignments += 1
                exported += line.lstrip().startswith("export")
                value = line[match.end() :].lstrip()
                if value[:1] in ("'", '"') and _closing_quote(value) < 0:
                    continued = value[0]
                replacing = match.group(1) in entries
            if match and match.group(1) in entries:
                name = match.group(1)
                if name in pending:  # the first occurrence is replaced, later duplicates dropped
                    if name in origins:
                        out.append(_indent(line) + origin_comment(name, origins[name]))
                    out.append(_reassign(line, match, pending.pop(name)))
                continue
            out.append(line)
        # new keys follow the file's habit: `export KEY=...` when every line has it
        prefix = "export " if assignments and exported == assignments else ""
        for name, value in pending.items():
            if name in origins:
                out.append(origin_comment(name, origins[name]))
            out.append(f"{prefix}{name}={dotenv_quote(value)}")
        return "\n".join(out) + "\n"

    def _removed(self, text: str, doomed: list[str]) -> str:
        kept = []
        for line in text.splitlines():
            note = _ORIGIN_COMMENT.match(line)
            match = None if line.lstrip().startswith("#") else _DOTENV_LINE.match(line)
            if (match and match.group(1) in doomed) or (note and note.group(1) in doomed):
                continue
            kept.append(line)
        return "\n".join(kept) + ("\n" if kept else "")


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _closing_quote(value: str) -> int:
    """The index of the quote that closes ``value``'s opening quote, or -1 (none on this line);
    inside double quotes a backslash escapes the next character."""
    quote, index = value[0], 1
    while index < len(value):
        if quote == '"' and value[index] == "\\":
            index += 2
            continue
        if value[index] == quote:
            return index
        index += 1
    return -1


def _reassign(line: str, match: re.Match[str], value: str) -> str:
    """``line`` with its value replaced by ``value``, in the form the line had: its indent,
    ``export``, spacing, quote style (where the value allows it) and trailing comment."""
    head = line[: match.end()]
    rest = line[match.end() :]
    gap = rest[: len(rest) - len(rest.lstrip(" \t"))]
    old = rest[len(gap) :]
    quote = old[:1] if old[:1] in ("'", '"') else ""
    tail = ""
    if quote:
        close = _closing_quote(old)
        tail = old[close + 1 :] if close >= 0 else ""
    elif " #" in old:
        tail = old[old.index(" #") :]
    return head + gap + _quoted_as(value, quote) + tail


def _quoted_as(value: str, quote: str) -> str:
    """``value`` in the quote style ``quote`` (``'``, ``"`` or none) when it reads back the same."""
    plain = dotenv_quote(value)  # refuses line breaks
    if quote == "'" and "'" not in value:
        return f"'{value}'"
    if quote == '"':
        escaped = value
        for char in ("\\", '"', "$", "`"):
            escaped = escaped.replace(char, "\\" + char)
        return f'"{escaped}"'
    return plain


# json ----------------------------------------------------------------------


class JsonSink(FileSink):
    """A JSON object ``{"KEY_NAME": "sk-..."}``, sorted keys, pretty-printed."""

    kind = "json"

    def _content_problem(self, existing: str) -> str:
        if not existing.strip():
            return ""
        try:
            loaded = json.loads(existing)
        except json.JSONDecodeError as exc:
            return (
                f"{self.path} is not valid JSON (line {exc.lineno}); refusing to overwrite it. "
                "Use a file of its own, e.g. json:keys.json"
            )
        if not isinstance(loaded, dict):
            return (
                f"{self.path} holds JSON that is not an object; refusing to overwrite it. "
                "Use a file of its own, e.g. json:keys.json"
            )
        return ""

    def origins(self, text: str | None) -> dict[str, Origin]:
        if not text or not text.strip():
            return {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return {}
        return read_json_origins(data)

    def _merge(
        self, existing: str | None, entries: dict[str, str], origins: dict[str, Origin]
    ) -> str:
        data: dict[str, object] = {}
        if existing is not None and existing.strip():
            try:
                loaded = json.loads(existing)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"{self.path} is not valid JSON (line {exc.lineno}); refusing to overwrite it"
                ) from None
            if not isinstance(loaded, dict):
                raise ValueError(
                    f"{self.path} holds JSON that is not an object; refusing to overwrite it"
                )
            data = loaded
        data.update(entries)
        if origins:
            recorded = data.get(JSON_ORIGINS)
            table = dict(recorded) if isinstance(recorded, dict) else {}
            table.update({name: origin.text() for name, origin in origins.items()})
            data[JSON_ORIGINS] = table
        return self._dump(data)

    def _removed(self, text: str, doomed: list[str]) -> str:
        data = json.loads(text)
        origins = data.get(JSON_ORIGINS)
        for name in doomed:
            data.pop(name, None)
            if isinstance(origins, dict):
                origins.pop(name, None)
        if isinstance(origins, dict) and not origins:
            data.pop(JSON_ORIGINS)
        return self._dump(data)

    @staticmethod
    def _dump(data: dict[str, object]) -> str:
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# The origins of a JSON sink's keys: one member that no key name can be (a colon), whose
# value is an object, so readers that take the string members get the keys only.
JSON_ORIGINS = "provisioner:origins"


def read_json_origins(data: object) -> dict[str, Origin]:
    table = data.get(JSON_ORIGINS) if isinstance(data, dict) else None
    if not isinstance(table, dict):
        return {}
    found = {}
    for name, text in table.items():
        origin = Origin.parse(text) if isinstance(text, str) else None
        if origin is not None:
            found[str(name)] = origin
    return found


# --------------------------------------------------------------------------- exec


@dataclass
class ExecSink:
    """Runs ``argv`` once per key with the key (and a newline) on stdin.

    ``{name}`` and ``{key_name}`` are replaced in the arguments (not in the
    command). The key is never in argv or the environment: the child gets
    the parent's environment minus ``NEWAPI_TOKEN``, ``NEWAPI_TOKEN_FILE`` and
    any variable whose value is the credential or a key being delivered.
    Output is captured; on failure the last line of stderr is reported with
    any key or credential in it masked.
    """

    argv: list[str]
    timeout: float = EXEC_TIMEOUT
    credential: Secret | None = None
    env: Mapping[str, str] | None = field(default=None, repr=False)
    hidden_variables: tuple[str, ...] = field(default=("NEWAPI_TOKEN", "NEWAPI_TOKEN_FILE"))

    @property
    def description(self) -> str:
        return "exec:" + shlex.join(self.argv)

    def command_for(self, item: KeyDelivery) -> list[str]:
        return [self.argv[0]] + [
            arg.replace("{name}", item.name).replace("{key_name}", item.key_name)
            for arg in self.argv[1:]
        ]

    def child_env(self, secrets: Iterable[str]) -> dict[str, str]:
        base = dict(os.environ if self.env is None else self.env)
        hidden = set(secrets)
        token = base.get("NEWAPI_TOKEN", "").strip()
        if token:
            hidden.add(token)
        if self.credential is not None:
            hidden.add(self.credential.reveal())
        return {
            name: value
            for name, value in base.items()
            if name not in self.hidden_variables and value.strip() not in hidden
        }

    def deliver(self, items: list[KeyDelivery]) -> list[DeliveryResult]:
        import subprocess

        secrets = _reveal_all(items)
        if self.credential is not None:
            secrets.append(self.credential.reveal())
        env = self.child_env(secrets)
        results = []
        for item in items:
            command = self.command_for(item)
            where = f"exec:{command[0]}"
            try:
                completed = subprocess.run(
                    command,
                    input=(item.key.reveal() + "\n").encode("utf-8"),
                    capture_output=True,
                    env=env,
                    timeout=self.timeout,
                    check=False,
                    close_fds=True,
                )
            except FileNotFoundError:
                results.append(
                    DeliveryResult(item.name, False, f"command not found: {command[0]}", where)
                )
                continue
            except PermissionError:
                results.append(
                    DeliveryResult(item.name, False, f"command not executable: {command[0]}", where)
                )
                continue
            except subprocess.TimeoutExpired:
                results.append(
                    DeliveryResult(
                        item.name, False, f"{command[0]} timed out after {self.timeout:g} s", where
                    )
                )
                continue
            except OSError as exc:
                results.append(
                    DeliveryResult(
                        item.name, False, f"cannot run {command[0]}: {exc.strerror}", where
                    )
                )
                continue
            if completed.returncode != 0:
                stderr = completed.stderr.decode("utf-8", "replace").strip().splitlines()
                last = scrub(stderr[-1].strip(), secrets)[:300] if stderr else ""
                code = completed.returncode
                status = f"killed by signal {-code}" if code < 0 else f"exited with {code}"
                error = f"{command[0]} {status}" + (f": {last}" if last else "")
                results.append(DeliveryResult(item.name, False, error, where))
                continue
            results.append(DeliveryResult(item.name, True, "", where))
        return results


# --------------------------------------------------------------------------- stdout


@dataclass
class StdoutSink:
    """``KEY_NAME=sk-...`` lines on stdout: the only place a full key is printed."""

    stream: IO[str] | None = None

    @property
    def description(self) -> str:
        return "stdout"

    def deliver(self, items: list[KeyDelivery]) -> list[DeliveryResult]:
        out = self.stream if self.stream is not None else sys.stdout
        # the CLI's stdout never spills a key to stderr: it raises when gone (cli/streams.py)
        write = getattr(out, "write_key", out.write)
        results = []
        for item in items:
            try:
                write(f"{item.key_name}={item.key.reveal()}\n")
            except OSError as exc:
                results.append(
                    DeliveryResult(
                        item.name, False, f"cannot write to stdout: {exc.strerror}", "stdout"
                    )
                )
                continue
            results.append(DeliveryResult(item.name, True, "", "stdout"))
        with contextlib.suppress(OSError):
            out.flush()
        return results
