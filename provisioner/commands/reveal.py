"""``provisioner reveal NAME...``: deliver existing keys to a sink (never to the log)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from provisioner.exitcodes import ExitCode
from provisioner.session import CommandError, Log, connect, load_spec_or_fail, run_command


def run(args: argparse.Namespace) -> int:
    return run_command(_reveal, args)


def _reveal(args: argparse.Namespace, log: Log) -> int:
    from provisioner.delivery import make_deliver
    from provisioner.render.style import Style, use_color
    from provisioner.spec.desired import derive_key_name

    spec = load_spec_or_fail(args.file, log) if Path(args.file).exists() else None
    key_names = {t.name: t.key_name for t in spec.tokens} if spec else {}
    sink_text = args.keys_to or (spec.keys_to if spec else None)
    if not sink_text:
        raise CommandError(
            "reveal needs a key sink: pass --keys-to (keyring, dotenv:PATH, json:PATH, "
            "exec:CMD..., stdout) or set keys.to in the file",
            ExitCode.USAGE,
        )
    names = list(dict.fromkeys(args.names))
    with connect(args, log, spec) as conn:
        deliver, sink_name = make_deliver(sink_text, conn.url, conn.credential)
        assert deliver is not None
        by_name: dict[str, list[int]] = {}
        for token in conn.client.list_tokens():
            by_name.setdefault(token.name, []).append(token.id)
        problems: dict[str, str] = {}
        wanted: dict[int, str] = {}
        for name in names:
            ids = by_name.get(name, [])
            if not ids:
                problems[name] = "no token with this name"
            elif len(ids) > 1:
                problems[name] = f"{len(ids)} tokens share this name (ids {sorted(ids)}): conflict"
            else:
                wanted[ids[0]] = name
        # One batch call per 100 ids: reveals share a strict limit (contract §10).
        keys = conn.client.reveal_keys(list(wanted)) if wanted else {}
        from provisioner.secrets.secret import Secret

        batch = []
        for token_id, name in wanted.items():
            key = keys.get(token_id)
            if key is None:
                problems[name] = "the server returned no key for it"
            else:
                key_name = key_names.get(name) or derive_key_name(name)
                batch.append((name, key_name, Secret("sk-" + key.reveal())))
        problems.update(deliver(batch) if batch else {})
    style = Style(use_color(sys.stderr, no_color=args.no_color))
    delivered = 0
    for name in names:
        if name in problems:
            print(style(f"  ✗ {name}: {problems[name]}", "red"), file=sys.stderr)
        else:
            delivered += 1
            log.info(style(f"  ✓ {name} -> {sink_name}", "green"))
    log.info(f"{delivered} of {len(names)} keys delivered to {sink_name}.")
    if problems:
        return ExitCode.PARTIAL if delivered else ExitCode.ERROR
    return ExitCode.OK
