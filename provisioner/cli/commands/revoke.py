"""``provisioner revoke``: the leaked-key drill (docs/keys-in-use.md#revoke).

Keys come from stdin (piped, or typed at a hidden prompt), never from argv,
and are printed only masked. Each key's token is found (narrowed by the masked
key's first and last 4, confirmed by revealing only those candidates),
disabled at once, renamed ``NAME.leaked-YYYYMMDD``, and, when the file
declares ``NAME``, replaced: apply's create and transactional delivery.
``scan --revoke`` runs the same steps on the keys it found.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from provisioner.cli.options import Common, RevokeOptions
from provisioner.cli.session import Connection, Log, connect, load_spec_or_fail
from provisioner.errors import UsageError
from provisioner.exitcodes import ExitCode

if TYPE_CHECKING:
    from provisioner.cli.delivery import Delivery
    from provisioner.keys.revoke import RevokeRun
    from provisioner.observed import ObservedToken
    from provisioner.render.plan import Header
    from provisioner.secret import Secret
    from provisioner.spec.desired import Spec

PROMPT = "leaked key (input hidden; an empty line to finish): "


def run(opts: RevokeOptions) -> int:
    log = Log(opts.common)
    file = opts.common.file
    if opts.common.file_given and not Path(file).exists():
        raise UsageError(f"{file}: no such file (it names the replacements to create)")
    keys = keys_from_stdin(sys.stdin)
    from provisioner.cli.output import add_masks

    add_masks(keys)  # under GitHub Actions, before anything could print one
    spec = load_spec_or_fail(file, log) if Path(file).exists() else None
    with connect(opts.server, log, spec, spec_file=file, needs="revoke") as conn:
        code, _ = revoke_keys(
            opts.common,
            log,
            conn,
            spec,
            keys,
            yes=opts.yes,
            keys_to=opts.keys_to,
        )
    return code


def keys_from_stdin(stream: TextIO) -> list[Secret]:
    """The keys on stdin, one a line (blank lines ignored); a terminal gets a hidden prompt."""
    from provisioner.keys.match import parse_key

    if stream.isatty():
        return _prompt_keys()
    keys: list[Secret] = []
    for number, line in enumerate(stream.read().splitlines(), 1):
        if not line.strip():
            continue
        key = parse_key(line)
        if key is None:
            raise UsageError(
                f"stdin line {number} is not a key (expected sk- and letters and digits, one key "
                "a line); nothing was changed"
            )
        keys.append(key)
    return _distinct(
        keys,
        "no key on stdin: pipe the leaked keys in, one a line "
        "(e.g. `provisioner revoke < leaked.txt`); keys are never taken from arguments",
    )


def _prompt_keys() -> list[Secret]:
    import getpass

    from provisioner.keys.match import parse_key

    print(
        "Paste each leaked key (sk-...) and press Enter; an empty line ends the list.",
        file=sys.stderr,
    )
    keys: list[Secret] = []
    while True:
        try:
            line = getpass.getpass(PROMPT, stream=sys.stderr)
        except EOFError:
            break
        if not line.strip():
            break
        key = parse_key(line)
        if key is None:
            print("  not a key (expected sk- and letters and digits); try again", file=sys.stderr)
            continue
        keys.append(key)
    return _distinct(
        keys,
        "no key given: nothing was changed. Paste the leaked key at the prompt, or pipe "
        "it in (`provisioner revoke < leaked.txt`)",
    )


def _distinct(keys: list[Secret], none_given: str) -> list[Secret]:
    """Each key once, in the order given; a usage error saying ``none_given`` for none."""
    if not keys:
        raise UsageError(none_given)
    return list(dict.fromkeys(keys))


def identify_keys(conn: Connection, keys: Sequence[Secret]) -> dict[Secret, ObservedToken | None]:
    """Which token each key is: candidates by first and last 4, then one reveal of those only."""
    from provisioner.keys.match import candidates, identify, ids_to_reveal

    narrowed = candidates(keys, conn.inventory)
    wanted = ids_to_reveal(narrowed)
    # Reveals draw on a budget of 20 per 20 minutes (docs/server-contract.md#rate-limits):
    # one batch call per 100 candidates, none when no masked key matches.
    revealed = conn.client.reveal_keys(wanted) if wanted else {}
    from provisioner.cli.output import add_masks

    add_masks(revealed.values())
    return identify(narrowed, conn.inventory, revealed)


def revoke_keys(
    common: Common,
    log: Log,
    conn: Connection,
    spec: Spec | None,
    keys: Sequence[Secret],
    *,
    yes: bool,
    keys_to: str | None,
    emit: bool = True,
) -> tuple[int, RevokeRun]:
    """Find, show, confirm and revoke; the exit code and what was done (printed if ``emit``)."""
    from provisioner.cli import output
    from provisioner.cli.delivery import make_delivery
    from provisioner.keys.revoke import RevokeOutcome, RevokeRun, plan_revocations

    found = identify_keys(conn, keys)
    now = conn.client.now()
    pairs = [(key, token) for key, token in found.items() if token is not None]
    items = plan_revocations(
        pairs, spec, conn.inventory, now, name_max_bytes=conn.info.name_max_bytes
    )
    run_ = RevokeRun(
        outcomes=[RevokeOutcome(item) for item in items],
        unknown=[key for key, token in found.items() if token is None],
    )
    delivery = make_delivery(keys_to or (spec.keys_to if spec else None), conn)
    run_.sink = delivery.sink if delivery else ""
    head = output.header(common.file, conn)
    to_do = [o for o in run_.outcomes if not o.item.already]
    _preview(common, run_, head, asking=bool(to_do) and not yes)
    if to_do:
        if not yes and not sys.stdin.isatty():  # no one to ask
            raise UsageError(
                "revoke cannot ask for confirmation: stdin is not a terminal (the keys came "
                "through it); pass --yes to revoke non-interactively"
            )
        from provisioner.cli.session import confirm

        confirm(yes, "revoke", "these keys")
        interrupted = _execute(conn, run_, delivery, now)
        run_.executed = True
    else:
        interrupted = False
    if emit:
        _report(common, run_, head)
    if interrupted:
        return ExitCode.INTERRUPTED, run_
    if run_.failed:
        return ExitCode.PARTIAL, run_
    if run_.unknown:
        many = len(run_.unknown) > 1
        log.info(
            f"{'these keys belong' if many else 'this key belongs'} to no token of "
            f"{conn.user_label or 'this account'} at {conn.url}, and nothing was changed for "
            f"{'them' if many else 'it'}: another account's key, or a deleted token's "
            "(a deleted key never works again)"
        )
        return ExitCode.FINDINGS, run_
    return ExitCode.OK, run_


def _preview(common: Common, run_: RevokeRun, head: Header, *, asking: bool) -> None:
    from provisioner.cli.output import style_for
    from provisioner.render.keys import revoke_preview

    if common.output == "text":
        sys.stdout.write(revoke_preview(run_, head, style_for(common)))
        sys.stdout.flush()
    elif asking:  # JSON and Markdown stay one document; the person asked still sees the plan
        sys.stderr.write(revoke_preview(run_, head, style_for(common, sys.stderr)))


def _execute(conn: Connection, run_: RevokeRun, delivery: Delivery | None, now: int) -> bool:
    """Disable every token first (the leak is live), then rename, then replace. Interrupted?"""
    from provisioner.execute.executor import Executor
    from provisioner.keys.revoke import replacement_plan
    from provisioner.newapi.errors import NewApiError
    from provisioner.observed import TokenStatus
    from provisioner.plan.actions import FieldUpdates
    from provisioner.plan.server_checks import cap_words
    from provisioner.report import OpResult

    client = conn.client
    fresh: dict[int, ObservedToken] = {}
    for outcome in run_.outcomes:
        item = outcome.item
        if item.already:
            continue
        token = item.token
        fresh[token.id] = token
        if not item.disable:
            continue
        step = OpResult("disable", token.name, token.id)
        outcome.steps.append(step)
        try:
            fresh[token.id] = client.set_status(token.id, TokenStatus.DISABLED)
        except NewApiError as exc:
            step.status, step.error = "failed", str(exc)
            del fresh[token.id]
            continue
        step.status = "ok"
    renamed = []
    for outcome in run_.outcomes:
        item = outcome.item
        listed = fresh.get(item.token.id)
        if listed is None or not item.new_name:
            continue
        token = listed
        step = OpResult("rename", item.token.name, token.id, detail=f"-> {item.new_name}")
        outcome.steps.append(step)
        try:
            client.update(token, FieldUpdates(name=item.new_name))
        except NewApiError as exc:
            step.status, step.error = "failed", str(exc)
            if item.replacement is not None:
                outcome.notes.append(
                    f"no replacement was created: {item.token.name} still names the revoked token"
                )
            continue
        step.status = "ok"
        renamed.append(outcome)
    replaced = [o for o in renamed if o.item.replacement is not None]
    if not replaced:
        return False
    plan = replacement_plan([o.item for o in replaced], now, conn.info.quota_per_unit)
    report = Executor(
        plan,
        client,
        conn.inventory,
        deliver=delivery.deliver if delivery else None,
    ).run()
    by_name = {o.item.replacement.name: o for o in replaced if o.item.replacement is not None}
    for result in report.results:
        if result.name in by_name:
            words = cap_words(result.error or "", len(conn.inventory) + len(conn.locks))
            if result.status == "failed" and words is not None:
                # full: the replacement found no room (docs/keys-in-use.md#revoke)
                result.error = f"the account is full. {words}"
            by_name[result.name].steps.append(result)
            by_name[result.name].replaced.append(result)
    run_.keys_delivered = report.keys_delivered
    run_.keys_pending = list(report.keys_pending)
    return report.interrupted


def _report(common: Common, run_: RevokeRun, head: Header) -> None:
    from provisioner.cli.output import style_for
    from provisioner.render.keys import render_revoke_markdown, render_revoke_text, revoke_json
    from provisioner.render.plan import dumps

    if common.output == "json":
        sys.stdout.write(dumps(revoke_json(run_, head)))
    elif common.output == "markdown":
        sys.stdout.write(render_revoke_markdown(run_, head))
    else:
        sys.stdout.write("\n" + render_revoke_text(run_, style_for(common)))
    sys.stdout.flush()
