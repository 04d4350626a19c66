"""``provisioner reveal NAME...``: deliver existing keys to a sink (never to the log).

The keys go to the sink; stdout gets, with ``--output json``, what was delivered
where (docs/json.md#reveal-provisioner-reveal-name---output-json), never a key.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioner.cli.options import RevealOptions
from provisioner.cli.session import Log, connect, load_spec_or_fail
from provisioner.errors import UsageError
from provisioner.exitcodes import ExitCode

if TYPE_CHECKING:
    from provisioner.render.plan import Header


def run(opts: RevealOptions) -> int:
    from provisioner.cli.delivery import make_delivery, usable_sink
    from provisioner.cli.output import style_for
    from provisioner.secret import Secret
    from provisioner.spec.desired import derive_key_name
    from provisioner.spec.loader import STDIN

    log = Log(opts.common)
    file = opts.common.file
    spec = load_spec_or_fail(file, log) if file == STDIN or Path(file).exists() else None
    key_names = {t.name: t.key_name for t in spec.tokens} if spec else {}
    sink_text = opts.keys_to or (spec.keys_to if spec else None)
    if not sink_text:
        raise UsageError(
            "reveal needs a key sink: pass --keys-to (keyring, dotenv:PATH, json:PATH, "
            "exec:CMD..., stdout) or set keys.to in the file"
        )
    output = opts.common.output
    # before anything is sent: a sink that cannot take keys is refused (64)
    usable_sink(sink_text, output=output, spec_path=file, warn=lambda m: log.info(f"warning: {m}"))
    names = list(dict.fromkeys(opts.names))
    with connect(opts.server, log, spec, spec_file=file, needs="reveal") as conn:
        delivery = make_delivery(sink_text, conn, output=output, spec_path=file, warn=None)
        assert delivery is not None
        by_name: dict[str, list[int]] = {}
        for token in conn.inventory:
            by_name.setdefault(token.name, []).append(token.id)
        problems: dict[str, str] = {}
        wanted: dict[int, str] = {}
        for name in names:
            ids = by_name.get(name, [])
            if not ids:
                problems[name] = "no token with this name"
            elif len(ids) > 1:
                listed = ", ".join(str(i) for i in sorted(ids))
                problems[name] = f"{len(ids)} tokens share this name (ids {listed}): conflict"
            else:
                wanted[ids[0]] = name
        # a key of another server or account under one of these names: refused before any
        # key is revealed (exit 4, docs/sinks.md#one-sink-one-server)
        foreign = delivery.foreign(key_names.get(n) or derive_key_name(n) for n in wanted.values())
        if foreign:
            from provisioner.errors import RefusedError

            raise RefusedError("; ".join(foreign.values()))
        # One batch call per 100 ids: reveals share a strict limit
        # (docs/server-contract.md#rate-limits).
        keys = conn.client.reveal_keys(list(wanted)) if wanted else {}
        batch = []
        for token_id, name in wanted.items():
            key = keys.get(token_id)
            if key is None:
                problems[name] = "the server returned no key for it"
            else:
                key_name = key_names.get(name) or derive_key_name(name)
                batch.append((name, key_name, Secret("sk-" + key.reveal())))
        problems.update(delivery.deliver(batch) if batch else {})
        if output == "json":
            from provisioner.cli.output import header

            id_of = {name: token_id for token_id, name in wanted.items()}
            document = _document(
                names, id_of, key_names, problems, delivery.sink, header(file, conn)
            )
            document["keys_moved"] = [{"from": old, "to": new} for old, new in delivery.moved]
    from provisioner.render.safe import text

    style = style_for(opts.common, sys.stderr)
    delivered = 0
    for name in names:
        if name in problems:
            print(style(text(f"  ✗ {name}: {problems[name]}"), "red"), file=sys.stderr)
        else:
            delivered += 1
            log.info(style(text(f"  ✓ {name} -> {delivery.sink}"), "green"))
    noun = "key" if len(names) == 1 else "keys"
    log.info(f"{delivered} of {len(names)} {noun} delivered to {delivery.sink}.")
    for old, new in delivery.moved:  # the same key under its new key name (docs/sinks.md)
        log.info(text(f"Moved in {delivery.sink}: {old} -> {new} (the old entry removed)."))
    for note in delivery.notes:
        print(f"warning: {text(note)}", file=sys.stderr)
    if output == "json":
        from provisioner.render.plan import dumps

        sys.stdout.write(dumps(document))
    if problems:
        return ExitCode.PARTIAL if delivered else ExitCode.ERROR
    return ExitCode.OK


def _document(
    names: list[str],
    ids: dict[str, int],
    key_names: dict[str, str],
    problems: dict[str, str],
    sink: str,
    head: Header,
) -> dict[str, Any]:
    """What was delivered where: names, ids, key names and errors; never a key."""
    from provisioner.render.plan import json_head
    from provisioner.spec.desired import derive_key_name

    keys = [
        {
            "name": name,
            "id": ids.get(name),
            "key_name": key_names.get(name) or derive_key_name(name),
            "delivered": name not in problems,
            "error": problems.get(name, ""),
        }
        for name in names
    ]
    delivered = sum(1 for key in keys if key["delivered"])
    return {
        **json_head("reveal", head),
        "sink": sink,
        "keys": keys,
        "summary": {
            "requested": len(keys),
            "delivered": delivered,
            "failed": len(keys) - delivered,
        },
    }
