"""The standard streams of one run, set up once for every command (docs/commands.md#streams).

- Whatever a stream's encoding (``PYTHONIOENCODING=ascii``, a pipe in a narrow locale),
  a character it cannot carry is written escaped as ``\\uXXXX`` (``\\ud83d\\ude00`` for
  one beyond U+FFFF): never an error, and a JSON document stays valid JSON meaning the same.
- A stdout whose reader went away (``| head``) or that was closed (``>&-``) never ends a
  run: the command carries on and exits with its own code. A command that changes
  something writes the rest of its report on stderr (the report is never lost); a
  read-only one says once on stderr that its output was cut short. Keys written to
  stdout (``--keys-to stdout``, :meth:`Output.write_key`) are never spilled: their
  delivery fails instead.
- A closed standard file descriptor is reopened on ``/dev/null``, so no file the run
  opens (the sandbox's database, a key file) can take its number.
"""

from __future__ import annotations

import codecs
import errno
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, TextIO

#: the codec error handler used on every standard stream
ESCAPE = "provisioner-escape"
#: commands whose output only reads: cut short by a reader that went away, it is not spilled
READ_ONLY = frozenset({"validate", "plan", "export", "list", "check", "test", "scan", "sandbox"})
#: errors that mean the stream can take no more (a closed pipe, a closed or bad descriptor)
_GONE = {errno.EPIPE, errno.EBADF, errno.EINVAL, errno.ECONNRESET}


def _escape(error: UnicodeError) -> tuple[str, int]:
    """``\\uXXXX`` for each character the encoding cannot carry (UTF-16 pairs above U+FFFF)."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    escaped = []
    for char in error.object[error.start : error.end]:
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            escaped.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            escaped.append(f"\\u{code:04x}")
    return "".join(escaped), error.end


codecs.register_error(ESCAPE, _escape)


class Output:
    """``sys.stdout`` for one run: every write reaches the stream at once (so a broken pipe
    shows at the write that hit it, not at exit), and a stream that is gone is survived."""

    def __init__(self, stream: TextIO | None, errors: _Errors) -> None:
        self.gone = stream is None  # the reader went away, or stdout was closed
        self._stream: TextIO = stream if stream is not None else _null_text()
        self._errors = errors
        self.written = False  # anything was written (the command printed its document)
        self.spill = True  # once stdout is gone, the rest goes to stderr
        self.why = "it was closed" if stream is None else ""
        self._told = False

    def write(self, text: str) -> int:
        self.written = self.written or bool(text)
        if not self.gone:
            try:
                self._send(text)
                return len(text)
            except (OSError, ValueError) as exc:
                self._lose_stream(exc)
        if self.spill and text:
            self._tell(f"stdout is gone ({self.why}); the rest of the report follows here:")
            self._errors.write(text)
        return len(text)

    def write_key(self, text: str) -> None:
        """Write text holding a key (``--keys-to stdout``): never spilled to stderr, and a
        stdout that is gone raises OSError, so the delivery fails as it should (the new
        token is then disabled, docs/reconcile.md#keys-never-go-missing)."""
        if self.gone:
            raise BrokenPipeError(errno.EPIPE, f"stdout is gone ({self.why})")
        try:
            self._send(text)
        except (OSError, ValueError) as exc:
            self._lose_stream(exc)
            raise BrokenPipeError(errno.EPIPE, f"stdout is gone ({self.why})") from None
        self.written = True

    def _send(self, text: str) -> None:
        try:
            self._stream.write(text)
        except UnicodeEncodeError:  # a stream whose error handler could not be set
            encoding = getattr(self._stream, "encoding", None) or "ascii"
            self._stream.write(text.encode(encoding, ESCAPE).decode(encoding))
        self._stream.flush()

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except (OSError, ValueError) as exc:
                self._lose_stream(exc)

    def isatty(self) -> bool:
        return not self.gone and self._stream.isatty()

    def finish(self) -> None:
        """At the end of the run: a read-only command cut short says so, once."""
        self.flush()
        if self.gone and self.written and not self.spill:
            self._tell(f"stdout is gone ({self.why}): the output was cut short")

    def _lose_stream(self, exc: BaseException) -> None:
        self.gone = True
        if isinstance(exc, BrokenPipeError):
            self.why = "its reader went away"
        elif isinstance(exc, OSError):
            self.why = exc.strerror or type(exc).__name__
        else:
            self.why = "it was closed"
        # What the stream still buffers would fail again when Python flushes it at exit
        # ("Exception ignored ... BrokenPipeError", exit 120): point its descriptor at
        # /dev/null so that last flush succeeds quietly.
        try:
            fd = self._stream.fileno()
        except (OSError, ValueError, AttributeError):
            return
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)

    def _tell(self, message: str) -> None:
        if not self._told:
            self._told = True
            self._errors.write(f"provisioner: {message}\n")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _Errors:
    """``sys.stderr`` that never ends a run: what a stream that is gone cannot take is dropped."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            self._stream.write(text)
            self._stream.flush()
        except UnicodeEncodeError:
            encoding = getattr(self._stream, "encoding", None) or "ascii"
            self._quiet_write(text.encode(encoding, ESCAPE).decode(encoding))
        except (OSError, ValueError):
            pass
        return len(text)

    def _quiet_write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            pass

    def flush(self) -> None:
        with suppress(OSError, ValueError):
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _null_text() -> TextIO:
    return open(os.devnull, "w", encoding="utf-8")


def _reopen_closed_descriptors() -> set[int]:
    """Put ``/dev/null`` on 0, 1 and 2 where they are closed (``>&-``), lowest first;
    the descriptors that were closed."""
    closed = set()
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.add(fd)
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:  # a lower one was free after all: leave things as they are
                os.close(opened)
    return closed


def _descriptor(stream: Any) -> int:
    try:
        return int(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return -1


def _set_errors(stream: Any, handler: str) -> str | None:
    """Give a text stream another error handler; the previous one (None: not possible)."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is None or not isinstance(getattr(stream, "errors", None), str):
        return None
    previous = str(stream.errors)
    try:
        reconfigure(errors=handler)
    except (OSError, ValueError):
        return None
    return previous


@contextmanager
def prepared() -> Iterator[Output]:
    """The streams of one run; ``sys.stdout`` is an :class:`Output` inside, and ``sys.stderr``
    never raises. Everything is put back as it was at the end."""
    closed = _reopen_closed_descriptors()
    saved = sys.stdin, sys.stdout, sys.stderr
    opened: list[TextIO] = []
    restore: list[tuple[Any, str]] = []
    if sys.stdin is None:  # started with stdin closed: read as from an empty file
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - closed below
        opened.append(sys.stdin)
    # Bytes stdin cannot decode become lone surrogates, refused by the parsers that read
    # them (a key, a credential), instead of ending the run.
    elif (previous := _set_errors(sys.stdin, "surrogateescape")) is not None:
        restore.append((sys.stdin, previous))
    errors = sys.stderr
    if errors is None:
        errors = _null_text()
        opened.append(errors)
    for stream in (sys.stdout, errors):
        if stream is not None and (previous := _set_errors(stream, ESCAPE)) is not None:
            restore.append((stream, previous))
    stdout_closed = sys.stdout is None or (1 in closed and _descriptor(sys.stdout) == 1)
    out = Output(None if stdout_closed else sys.stdout, _Errors(errors))
    if stdout_closed:
        opened.append(out._stream)
    sys.stderr = out._errors
    sys.stdout = out
    try:
        yield out
        out.finish()
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
        for stream, previous in restore:
            with suppress(OSError, ValueError):
                stream.reconfigure(errors=previous)
        for stream in opened:
            stream.close()
