"""``provisioner export``: the account's tokens as a valid tokens.yaml (no keys)."""

from __future__ import annotations

import sys
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING

from provisioner.cli.options import ExportOptions
from provisioner.cli.session import Log, connect
from provisioner.errors import ProvisionerError, UsageError
from provisioner.exitcodes import ExitCode

if TYPE_CHECKING:
    from provisioner.render.export import Exported


def _check_out(path: Path, force: bool) -> None:
    """Refuse (64) an --out that would overwrite a file without --force, or cannot be a file."""
    if path.is_dir():
        raise UsageError(f"--out {path}: is a directory; name a file, e.g. {path / 'tokens.yaml'}")
    if path.exists() and not force:
        raise UsageError(
            f"--out {path}: the file exists; export never overwrites a file without --force "
            "(or write to another file and compare)"
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--out {path}: the folder {parent} does not exist; create it first")


def _write(path: Path, text: str, force: bool) -> None:
    # "x" creates only: a file that appeared since the check is not overwritten either
    try:
        with path.open("w" if force else "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise UsageError(f"--out {path}: the file exists; pass --force to overwrite it") from None
    except OSError as exc:
        raise ProvisionerError(f"cannot write {path}: {exc.strerror}") from None


def run(opts: ExportOptions) -> int:
    from provisioner.render.export import export_tokens

    log = Log(opts.common)
    out = Path(opts.out) if opts.out else None
    if out is not None:
        _check_out(out, opts.force)  # before anything is fetched
    with connect(opts.server, log, spec_file=opts.common.file) as conn:
        tokens = conn.inventory
        now = conn.client.now()
        url = None if opts.server.sandbox else conn.url
    globs = list(opts.match)
    if globs:
        tokens = [t for t in tokens if any(fnmatchcase(t.name, g) for g in globs)]
    result = export_tokens(
        tokens, now, match=globs, url=url, include_leftovers=opts.include_leftovers
    )
    for line in result.skipped:
        log.info(f"skipped {line}")
    if result.left_out:
        from provisioner.humanize import plural
        from provisioner.render.safe import text_names

        log.info(
            f"left out {plural(len(result.left_out), 'leftover')} "
            f"({text_names(result.left_out)}): .leaked- "
            "tokens revoke disabled and .new- tokens of unfinished rotations; "
            "--include-leftovers exports them"
        )
    if out is not None:
        _write(out, result.text, opts.force)
        log.info(f"wrote {result.count} token{'' if result.count == 1 else 's'} to {out}")
    if opts.common.output == "json":
        sys.stdout.write(_document(result, out, url, globs))
    elif out is None:
        sys.stdout.write(result.text)
    return ExitCode.OK


def _document(result: Exported, out: Path | None, url: str | None, globs: list[str]) -> str:
    """``--output json`` (docs/json.md#export-provisioner-export---output-json): the spec as
    data, the file it went to, if any, and what was left out. ``jq .spec`` of it is itself
    a valid spec (JSON is YAML)."""
    from provisioner.render.plan import dumps, json_head

    return dumps(
        {
            **json_head("export"),
            "url": url,
            "match": globs,
            "out": None if out is None else str(out),
            "count": result.count,
            "skipped": result.skipped,
            "left_out": result.left_out,
            "spec": result.data,  # the file's data, without its comments
        }
    )
