"""``provisioner delete ID... [--yes] [--force]``: delete tokens by id, after showing them.

The way out of a name conflict (two server tokens with one name, which plan
and apply refuse to guess about): ``provisioner list --match NAME`` shows the
ids, ``provisioner delete ID`` removes the extra one. Every id must be a token
of the account, or nothing is deleted.

The spec file, when there is one (``-f``, default ``tokens.yaml``), keeps its
rules here too (docs/commands.md#delete): a ``protected: true`` token and one
used within ``safety.min_idle`` are refused (exit 4, nothing deleted) unless
``--force``; the key of a deleted token leaves the file's sink (``keys.to``),
where the sink holds that very key.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from provisioner.cli.options import DeleteOptions
from provisioner.cli.session import Log, confirm, connect, load_optional_spec
from provisioner.errors import ProvisionerError, RefusedError, UsageError
from provisioner.exitcodes import ExitCode

if TYPE_CHECKING:
    from provisioner.cli.session import Connection
    from provisioner.listing.findings import Row
    from provisioner.observed import ObservedToken
    from provisioner.plan.model import KeyPrint
    from provisioner.render.plan import Header
    from provisioner.spec.desired import DesiredToken, Spec


def declared_for(name: str, spec: Spec | None) -> DesiredToken | None:
    """The file's token a server name belongs to: itself, or the live name of a rotation
    (``.old-``) or revoke (``.leaked-``) leftover."""
    if spec is None:
        return None
    from provisioner.plan.ownership import predecessor_of, revoked_from

    by_name = {t.name: t for t in spec.tokens}
    for candidate in (name, predecessor_of(name), revoked_from(name)):
        if candidate is not None and candidate in by_name:
            return by_name[candidate]
    return None


def refusals(tokens: Sequence[ObservedToken], spec: Spec | None, now: int) -> dict[int, str]:
    """Why each token may not be deleted without ``--force`` (by id): the file's
    ``protected: true`` (the declared name itself) and ``safety.min_idle``."""
    if spec is None:
        return {}
    from provisioner.humanize import ago, human_span

    by_name = {t.name: t for t in spec.tokens}
    out: dict[int, str] = {}
    min_idle = spec.safety.min_idle
    for token in tokens:
        reasons = []
        declared = by_name.get(token.name)
        if declared is not None and declared.protected:
            reasons.append(f"protected: true in {spec.path}")
        idle = now - token.last_used  # 0: never used (a new token's accessed_time is its creation)
        if min_idle is not None and token.last_used and idle < min_idle:
            reasons.append(f"used {ago(idle)}, less than safety.min_idle {human_span(min_idle)}")
        if reasons:
            out[token.id] = "; ".join(reasons)
    return out


def _key_prints(tokens: Sequence[ObservedToken], spec: Spec | None) -> dict[str, KeyPrint | None]:
    """The first and last 4 of each deleted token's key, by the key name the sink uses."""
    from provisioner.plan.model import key_print
    from provisioner.spec.desired import derive_key_name

    prints: dict[str, KeyPrint | None] = {}
    for token in tokens:
        declared = declared_for(token.name, spec)
        key_name = declared.key_name if declared else derive_key_name(token.name)
        if key_name:
            prints[key_name] = key_print(token.key)
    return prints


def run(opts: DeleteOptions) -> int:
    from provisioner.cli.output import header, style_for
    from provisioner.listing.findings import make_row
    from provisioner.render import deletion as render
    from provisioner.render.safe import text

    log = Log(opts.common)
    ids = list(dict.fromkeys(opts.ids))
    if any(token_id <= 0 for token_id in ids):
        bad = next(token_id for token_id in ids if token_id <= 0)
        raise UsageError(f"token id {bad}: ids are positive whole numbers (see provisioner list)")
    output = opts.common.output
    # the file's rules hold here too; a file that fails to load stops the command (65)
    spec = load_optional_spec(opts.common, log)
    with connect(opts.server, log, spec, spec_file=opts.common.file, needs="delete") as conn:
        head = header(opts.common.file if spec else "", conn)
        now = conn.client.now()
        by_id = {token.id: token for token in conn.inventory}
        missing = [token_id for token_id in ids if token_id not in by_id]
        locks = [t.id for t in conn.locks if t.id in missing]
        if locks:
            _not_deletable(
                locks,
                f"the account's lock (an apply's lock token); nothing was deleted. "
                f"`provisioner unlock {locks[0]}` shows who holds it and removes it",
            )
        if missing:
            who = f" as {conn.user_label}" if conn.user_label else ""
            _not_deletable(
                missing,
                f"not a token of this account ({conn.url}{who}); nothing was deleted. "
                "`provisioner list` shows the ids",
            )
        tokens = [by_id[token_id] for token_id in ids]
        rows = [make_row(token, now) for token in tokens]
        refused = {} if opts.force else refusals(tokens, spec, now)
        preview = render.render_preview(rows, head, now, style_for(opts.common))
        if output == "text":
            sys.stdout.write(preview)
            sys.stdout.flush()
        else:
            log.info(preview.rstrip("\n"))  # the document goes to stdout once, at the end
        if refused:
            _refuse(opts, rows, refused, head, now)
        if not opts.yes and not sys.stdin.isatty():
            raise UsageError(
                "refusing to delete without confirmation: stdin is not a terminal; "
                "pass --yes to delete non-interactively"
            )
        confirm(opts.yes, "delete", "these tokens")
        failures: dict[int, str] = {}
        try:
            conn.client.delete_tokens(ids)
        except ProvisionerError as exc:
            log.error(f"delete: {text(exc)}")
        # The batch route skips ids silently: the listing says what is gone.
        remaining = {token.id for token in conn.client.list_tokens()}
        for token_id in ids:
            if token_id in remaining:
                failures[token_id] = "still on the server after the delete"
        deleted = [token for token in tokens if token.id not in failures]
        forgotten = _forget(opts, conn, spec, deleted, log)
    if output == "json":
        document = render.deletion_json(rows, failures, head, now, done=True)
        document["keys_forgotten"] = forgotten
        from provisioner.render.plan import dumps

        sys.stdout.write(dumps(document))
    elif output == "markdown":
        sys.stdout.write(render.render_markdown(rows, failures, head, now, done=True))
    else:
        sys.stdout.write(render.render_results(rows, failures, style_for(opts.common)))
        if forgotten:
            names = ", ".join(text(name) for name in forgotten)
            sys.stdout.write(f"Removed from {text(spec.keys_to if spec else '')}: {names}.\n")
    sys.stdout.flush()
    return ExitCode.PARTIAL if failures else ExitCode.OK


def _refuse(
    opts: DeleteOptions, rows: list[Row], refused: dict[int, str], head: Header, now: int
) -> None:
    """Print why (in the chosen format) and stop: exit 4, nothing deleted."""
    from provisioner.render import deletion as render
    from provisioner.render.plan import dumps
    from provisioner.render.safe import text

    output = opts.common.output
    if output == "json":
        document = render.deletion_json(rows, {}, head, now, done=False)
        for entry in document["tokens"]:
            entry["refused"] = refused.get(entry["id"], "")
        sys.stdout.write(dumps(document))
    elif output == "markdown":
        sys.stdout.write(render.render_markdown(rows, {}, head, now, done=False, refusals=refused))
    else:
        names = {row.id: row.name for row in rows}
        for token_id, why in refused.items():
            sys.stdout.write(f"Refused: {text(names[token_id])} (id {token_id}): {text(why)}\n")
    sys.stdout.flush()
    from provisioner.humanize import plural

    raise RefusedError(
        f"delete refused: {plural(len(refused), 'token')} the file protects (protected: true or "
        "safety.min_idle); nothing was deleted. Pass --force to delete them anyway"
    )


def _forget(
    opts: DeleteOptions, conn: Connection, spec: Spec | None, deleted: list[ObservedToken], log: Log
) -> list[str]:
    """Remove the deleted tokens' keys from the file's sink (only where it holds that key)."""
    from provisioner.cli.delivery import make_delivery
    from provisioner.render.safe import text

    if spec is None or not spec.keys_to or not deleted:
        return []
    try:
        delivery = make_delivery(
            spec.keys_to,
            conn,
            output="text",  # only read and pruned here: no key is written anywhere
            spec_path=opts.common.file,
            warn=None,
        )
    except UsageError as exc:
        log.info(f"warning: the keys of deleted tokens stay in the sink: {text(exc)}")
        return []
    if delivery is None:
        return []
    try:
        return delivery.forget(_key_prints(deleted, spec))
    except (OSError, ValueError, ProvisionerError) as exc:
        log.info(f"warning: the keys of deleted tokens stay in {delivery.sink}: {text(exc)}")
        return []


def _not_deletable(ids: list[int], why: str) -> NoReturn:
    """``ids 3, 4: WHY`` (exit 1): nothing was deleted."""
    shown = ", ".join(str(i) for i in ids)
    raise ProvisionerError(f"{'id' if len(ids) == 1 else 'ids'} {shown}: {why}", ExitCode.ERROR)
