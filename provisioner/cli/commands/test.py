"""``provisioner test [NAME...]``: the form's 测试连接 for keys (docs/keys-in-use.md#test).

Each token's key comes from the readable key sink when it holds it, else from
a reveal (one batch for all of them); then the relay is called as an
application would call it, ``GET /v1/models`` with ``Authorization: Bearer sk-…``.
Exit 0 when every key works (a key the file declares disabled, refused as such, is
"as declared"), 8 when any is refused or a named token is missing, 1 when a relay call
got no verdict (docs/keys-in-use.md#test).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from provisioner.cli.options import TestOptions
from provisioner.cli.session import Connection, Log, connect, load_spec_or_fail
from provisioner.errors import UsageError
from provisioner.exitcodes import ExitCode

if TYPE_CHECKING:
    from provisioner.keys.verdict import KeyTestRun
    from provisioner.observed import ObservedToken
    from provisioner.render.plan import Header
    from provisioner.secret import Secret
    from provisioner.spec.desired import Spec


def run(opts: TestOptions) -> int:
    from provisioner.cli import output
    from provisioner.keys.verdict import KeyTestRun, targets

    log = Log(opts.common)
    file = opts.common.file
    if opts.common.file_given and not Path(file).exists():
        raise UsageError(f"{file}: no such file")
    spec = load_spec_or_fail(file, log) if Path(file).exists() else None
    if not opts.names and spec is None:
        raise UsageError(
            f"{file} not found: name the tokens to test (provisioner test NAME...), "
            "or point -f at the spec whose tokens to test"
        )
    if opts.model is not None and not opts.model.strip():
        raise UsageError("--model needs a model name, e.g. --model gpt-4o-mini")
    with connect(opts.server, log, spec, spec_file=opts.common.file, needs="test") as conn:
        chosen, not_created = targets(spec, conn.inventory, opts.names)
        targeted = list(chosen)
        run_ = KeyTestRun(not_created=not_created, model=opts.model)
        declared_disabled = {t.name: t.status == "disabled" for t in spec.tokens} if spec else {}
        if not opts.names:
            # Off as the file declares it: shown, not called (`test NAME` calls it).
            chosen = _off_as_declared(chosen, declared_disabled, conn.client.now(), run_)
        keys, sources, notes = _find_keys(conn, spec, opts.keys_to, chosen, log, run_)
        if opts.model:
            log.info(f"--model {opts.model}: one chat completion per working key spends quota")
        _call_relay(conn, opts, chosen, keys, sources, notes, declared_disabled, log, run_)
        place = {(name, t.id if t else None): i for i, (name, t) in enumerate(targeted)}
        run_.results.sort(key=lambda r: place.get((r.name, r.token_id), len(place)))
        head = output.header(file, conn)
    _emit(opts, run_, head)
    counts = run_.counts()
    if counts["refused"] or counts["missing"]:
        return ExitCode.FINDINGS
    return ExitCode.ERROR if counts["error"] else ExitCode.OK


def _off_as_declared(
    chosen: Sequence[tuple[str, ObservedToken | None]],
    declared_disabled: dict[str, bool],
    now: int,
    run_: KeyTestRun,
) -> list[tuple[str, ObservedToken | None]]:
    """Tokens the file declares disabled and whose record shows them off are reported
    "disabled, as declared" without a relay call; the rest are still to be tested. One the
    server has re-enabled is tested: its key may work against the file's word."""
    from provisioner.keys.verdict import KeyTest, from_record

    rest: list[tuple[str, ObservedToken | None]] = []
    for name, token in chosen:
        record = from_record(token, now) if token is not None else None
        if token is None or not declared_disabled.get(name) or record is None:
            rest.append((name, token))
            continue
        reason, why = record
        label = "disabled, as declared"
        if reason != "disabled":
            label = f"{reason}, and the file declares it disabled ({why})"
        run_.results.append(
            KeyTest(
                name,
                token.id,
                "as-declared",
                reason,
                f"{label}; not called (`provisioner test {name}` calls the relay)",
            )
        )
    return rest


def _find_keys(
    conn: Connection,
    spec: Spec | None,
    keys_to: str | None,
    chosen: Sequence[tuple[str, ObservedToken | None]],
    log: Log,
    run_: KeyTestRun,
) -> tuple[dict[int, Secret], dict[int, str], dict[int, list[str]]]:
    """Each token's key: the sink's when its first and last 4 match the server's, else revealed."""
    from provisioner.cli.delivery import make_delivery
    from provisioner.keystore.keyring_store import KeyringUnavailableError
    from provisioner.keystore.sink_state import read_keys
    from provisioner.newapi.errors import UnsupportedError
    from provisioner.plan.model import key_print
    from provisioner.secret import Secret
    from provisioner.spec.desired import derive_key_name

    declared = {t.name: t.key_name for t in spec.tokens} if spec else {}
    tokens = [t for _, t in chosen if t is not None]
    key_name = {t.id: declared.get(t.name) or derive_key_name(t.name) for t in tokens}
    sink_text = keys_to or (spec.keys_to if spec else None)
    delivery = make_delivery(sink_text, conn)
    held: dict[str, Secret | None] = {}
    if delivery is not None and delivery.readable and tokens:
        run_.sink = delivery.sink
        try:
            held = read_keys(delivery.target, key_name.values(), delivery.server_url) or {}
        except (OSError, ValueError, KeyringUnavailableError) as exc:
            log.info(f"warning: cannot read the key sink {delivery.sink} ({exc}); revealing keys")
    elif delivery is not None and tokens:
        log.info(f"the key sink {delivery.sink} cannot be read back: keys are revealed")

    keys: dict[int, Secret] = {}
    sources: dict[int, str] = {}
    notes: dict[int, list[str]] = {}
    for token in tokens:
        stored = held.get(key_name[token.id])
        if stored is None:
            continue
        bare = stored.reveal().removeprefix("sk-")
        shown = key_print(token.key)  # None: the listing shows no key to compare with
        if shown is None or key_print(bare) == shown:
            keys[token.id], sources[token.id] = Secret(bare), "sink"
        else:
            notes.setdefault(token.id, []).append(
                f"the sink holds another key under {key_name[token.id]} (its first and last 4 "
                "characters differ from the server's): the server's key was tested; "
                "`provisioner apply` delivers the right one"
            )
    wanted = [t.id for t in tokens if t.id not in keys]
    if wanted:
        try:
            revealed = conn.client.reveal_keys(wanted)
        except UnsupportedError as exc:
            log.info(f"warning: {exc.message}")
            revealed = {}
        for token_id, key in revealed.items():
            keys[token_id], sources[token_id] = key, "server"
    from provisioner.cli.output import add_masks

    add_masks(keys.values())  # under GitHub Actions, before anything could print one
    return keys, sources, notes


def _call_relay(
    conn: Connection,
    opts: TestOptions,
    chosen: Sequence[tuple[str, ObservedToken | None]],
    keys: dict[int, Secret],
    sources: dict[int, str],
    notes: dict[int, list[str]],
    declared_disabled: dict[str, bool],
    log: Log,
    run_: KeyTestRun,
) -> None:
    from provisioner.keys.verdict import ChatTest, KeyTest, as_declared, judge_chat, judge_models
    from provisioner.newapi.relay import RELAY_TIMEOUT, RelayClient

    now = conn.client.now()

    def on_request(method: str, route: str, status: int, seconds: float) -> None:
        log.debug(f"  {method} {route} -> {status} ({seconds * 1000:.0f} ms) [relay]", level=2)

    relay = RelayClient(
        conn.url,
        verify=conn.verify,
        timeout=opts.server.timeout or RELAY_TIMEOUT,
        on_request=on_request,
    )
    with relay:
        for name, token in chosen:
            if token is None:
                run_.results.append(
                    KeyTest(
                        name, None, "missing", "not-found", "no token of this name on the server"
                    )
                )
                continue
            result = KeyTest(name, token.id, "error", notes=list(notes.get(token.id, [])))
            key = keys.get(token.id)
            if key is None:
                result.reason = "no-key"
                result.explanation = (
                    "no key to test: the sink does not hold it and the server did not reveal it"
                )
                run_.results.append(result)
                continue
            result.key_source = sources.get(token.id, "")
            answer = relay.models(key)
            verdict = judge_models(token, now, answer)
            if declared_disabled.get(name):
                verdict = as_declared(verdict)
            result.outcome, result.reason, result.explanation = (
                verdict.outcome,
                verdict.reason,
                verdict.explanation,
            )
            result.http_status = answer.status or None
            result.latency_ms = answer.latency_ms
            result.models = answer.models
            if declared_disabled.get(name) and verdict.outcome == "works":
                result.notes.append(
                    "the file declares it `status: disabled`, but its key works: "
                    "`provisioner apply` disables it"
                )
            if opts.model and verdict.outcome == "works":
                reply = relay.chat(key, opts.model)
                chat = judge_chat(token, opts.model, reply)
                result.chat = ChatTest(
                    opts.model,
                    chat.outcome,
                    chat.reason,
                    chat.explanation,
                    reply.status or None,
                    reply.latency_ms,
                    reply.usage_tokens,
                )
            run_.results.append(result)
    log.debug(f"relay requests: {relay.request_count}", level=2)


def _emit(opts: TestOptions, run_: KeyTestRun, head: Header) -> None:
    from provisioner.cli.output import style_for
    from provisioner.render.keys import keytest_json, render_keytest_markdown, render_keytest_text
    from provisioner.render.plan import dumps

    if opts.common.output == "json":
        sys.stdout.write(dumps(keytest_json(run_, head)))
    elif opts.common.output == "markdown":
        sys.stdout.write(render_keytest_markdown(run_, head))
    else:
        sys.stdout.write(render_keytest_text(run_, head, style_for(opts.common)))
    sys.stdout.flush()
