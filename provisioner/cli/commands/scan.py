"""``provisioner scan PATH...``: this account's keys in files (docs/keys-in-use.md#scan).

Key-shaped strings (``sk-`` and 48 letters and digits) are matched to tokens
the way ``revoke`` matches keys: the masked keys' first and last 4 narrow the
candidates, one reveal of only those confirms. ``FILE:LINE`` and the token are
printed, never the key; keys of no token of this account are only counted.
When nothing key-shaped is found, the server is not contacted at all.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from provisioner.cli.options import ScanOptions
from provisioner.cli.session import Log, connect, load_spec_or_fail, sink_warning
from provisioner.exitcodes import ExitCode

if TYPE_CHECKING:
    from provisioner.cli.scanfiles import Skipped
    from provisioner.keys.match import ScanReport
    from provisioner.render.plan import Header
    from provisioner.spec.desired import Spec


def run(opts: ScanOptions) -> int:
    from provisioner.cli import output
    from provisioner.cli.commands.revoke import identify_keys, revoke_keys
    from provisioner.cli.scanfiles import scan_paths
    from provisioner.keys.match import Place, ScanReport
    from provisioner.plan.ownership import revoked_from

    log = Log(opts.common)
    spec = _spec(opts, log)
    found = scan_paths(
        opts.paths,
        cwd=Path.cwd(),
        max_bytes=opts.max_size,
        since=opts.since,
        sink_files=_sink_files(opts.keys_to or (spec.keys_to if spec else None)),
    )
    output.add_masks(dict.fromkeys(hit.key for hit in found.hits))  # GitHub Actions: at once
    for line in skipped_lines(found.skipped):
        log.info(line)
    report = ScanReport(files=found.files, skipped=[(s.file, s.reason) for s in found.skipped])
    if not found.hits:
        log.debug("nothing key-shaped was found: the server was not contacted")
        _emit(opts, report, None)
        return ExitCode.OK
    needs = "revoke" if opts.revoke else "scan"
    with connect(opts.server, log, spec, spec_file=opts.common.file, needs=needs) as conn:
        report.now = conn.client.now()
        owners = identify_keys(conn, [hit.key for hit in found.hits])
        report.places = [
            Place(hit.file, hit.line, token)
            for hit in found.hits
            if (token := owners.get(hit.key)) is not None
        ]
        others = [hit for hit in found.hits if owners.get(hit.key) is None]
        report.other_keys = len({hit.key for hit in others})
        report.other_places = len(others)
        head = output.header(opts.common.file, conn)
        json_out = opts.common.output == "json"
        sinks = _open_sinks(found.open_sinks, report)
        if not (json_out and opts.revoke and report.places):
            _emit(opts, report, head, sinks)
        if not report.places:
            return ExitCode.OK
        for sink in sinks:  # the .gitignore line that keeps the sink out of commits
            log.info(sink.advice())
        waiting = {sink.file for sink in sinks if not sink.tracked}
        if not opts.revoke:
            live = [
                t
                for t in report.tokens
                if (revoked_from(t.name) is None or t.status == 1)
                and any(p.token is t and p.file not in waiting for p in report.places)
            ]
            if not live:
                return ExitCode.FINDINGS  # revoked already, or only in a sink to ignore
            paths = shlex.join(opts.paths) if len(opts.paths) <= 3 else "PATH..."
            log.info(
                f"a key found in a file has leaked: revoke it with `provisioner scan {paths} "
                "--revoke` (or pipe it to `provisioner revoke`)"
            )
            return ExitCode.FINDINGS
        leaked = list(dict.fromkeys(hit.key for hit in found.hits if owners.get(hit.key)))
        code, revoked = revoke_keys(
            opts.common,
            log,
            conn,
            spec,
            leaked,
            yes=opts.yes,
            keys_to=opts.keys_to,
            emit=not json_out,
        )
        if json_out:  # one document: the scan, with what revoke did in it
            from provisioner.render.keys import revoke_json, scan_json
            from provisioner.render.plan import dumps

            document = scan_json(report, head, list(opts.paths), opts.since)
            document["sinks_not_ignored"] = [sink.json() for sink in sinks]
            document["revoke"] = revoke_json(revoked, head)
            sys.stdout.write(dumps(document))
    # The keys are still in the files, dead now: the finding stands.
    return code if code != ExitCode.OK else ExitCode.FINDINGS


@dataclass(frozen=True)
class OpenSink:
    """The key sink's file, listed by git (not ignored), with keys of this account in it."""

    file: str  # as shown
    tracked: bool  # committed or staged: its keys are (about to be) in the history
    gitignore: str  # the .gitignore to add the line to ("" when git cannot say)
    line: str  # the line that ignores exactly this file

    def json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "tracked": self.tracked,
            "gitignore": self.gitignore,
            "line": self.line,
        }

    def advice(self) -> str:
        from provisioner.render.safe import text

        add = (
            f"add the line {text(self.line)} to {text(self.gitignore)} "
            f"(echo {shlex.quote(self.line)} >> {shlex.quote(self.gitignore)})"
            if self.gitignore
            else "add it to .gitignore"
        )
        if self.tracked:
            return (
                f"{text(self.file)} is the key sink (keys.to) and git tracks it: its keys are "
                f"committed, or staged to be. Stop tracking it (git rm --cached "
                f"{shlex.quote(self.file)}), {add}, and revoke the keys"
            )
        return (
            f"{text(self.file)} is the key sink (keys.to) and git does not ignore it: the next "
            f"`git add` takes its keys. {add[0].upper()}{add[1:]}"
        )


def _open_sinks(open_sinks: list[tuple[str, Path]], report: ScanReport) -> list[OpenSink]:
    """The key sink's files git lists (not ignored) that hold keys found."""
    import os

    from provisioner.cli.scanfiles import tracked
    from provisioner.keystore.sinks import gitignore_line

    found = []
    for shown, path in open_sinks:
        if not any(place.file == shown for place in report.places):
            continue
        where = gitignore_line(path)
        gitignore = ""
        if where is not None:
            relative = os.path.relpath(where[0])
            gitignore = relative if not relative.startswith("..") else str(where[0])
        found.append(OpenSink(shown, tracked(path), gitignore, where[1] if where else ""))
    return found


def skipped_lines(skipped: list[Skipped], shown: int = 3) -> list[str]:
    """What was not read, each reason said once: ``skipped a/.git/: git's own folder...``,
    or for many, ``skipped 40 (git's own folder...): a/.git/, b/.git/, c/.git/ and 37 more``
    (the JSON document lists every one)."""
    from provisioner.render.safe import text, text_names

    by_reason: dict[str, list[str]] = {}
    for entry in skipped:
        by_reason.setdefault(entry.reason, []).append(entry.file)
    lines = []
    for reason, files in by_reason.items():
        if len(files) == 1:
            lines.append(f"skipped {text(files[0])}: {reason}")
            continue
        lines.append(f"skipped {len(files)} ({reason}): {text_names(files, shown)}")
    return lines


def _sink_files(sink_text: str | None) -> list[Path]:
    """The file a dotenv or json key sink writes, if that is the sink."""
    if not sink_text:
        return []
    from provisioner.keystore.sinks import DotenvSink, JsonSink, parse_sink

    try:
        sink = parse_sink(sink_text)
    except ValueError:
        return []  # a malformed sink is reported by the commands that deliver
    return [Path(sink.path)] if isinstance(sink, DotenvSink | JsonSink) else []


def _spec(opts: ScanOptions, log: Log) -> Spec | None:
    """The file: its server.url, and with --revoke the declared replacements."""
    file = opts.common.file
    if not Path(file).exists():
        return None
    if opts.revoke:
        return load_spec_or_fail(file, log)
    from provisioner.cli.paths import resolve_sink
    from provisioner.spec import SpecError, load_spec

    try:  # a scan needs only the URL from it: a broken file is not fatal here
        spec = load_spec(file)
    except (SpecError, OSError):
        return None
    return resolve_sink(spec, file, sink_warning(log))


def _emit(
    opts: ScanOptions, report: ScanReport, head: Header | None, sinks: Sequence[OpenSink] = ()
) -> None:
    from provisioner.cli.output import style_for
    from provisioner.render.keys import render_scan_markdown, render_scan_text, scan_json
    from provisioner.render.plan import dumps

    if opts.common.output == "json":
        document = scan_json(report, head, list(opts.paths), opts.since)
        document["sinks_not_ignored"] = [sink.json() for sink in sinks]
        sys.stdout.write(dumps(document))
    elif opts.common.output == "markdown":
        sys.stdout.write(render_scan_markdown(report))
    else:
        sys.stdout.write(render_scan_text(report, style_for(opts.common)))
    sys.stdout.flush()
