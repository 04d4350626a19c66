"""``provisioner delete ID... [--yes]``: delete tokens by id, after showing them.

The way out of a name conflict (two server tokens with one name, which plan
and apply refuse to guess about): ``provisioner list --match NAME`` shows the
ids, ``provisioner delete ID`` removes the extra one. Every id must be a token
of the account, or nothing is deleted.
"""

from __future__ import annotations

import sys

from provisioner.cli.options import DeleteOptions
from provisioner.cli.session import Log, confirm, connect
from provisioner.errors import ProvisionerError, UsageError
from provisioner.exitcodes import ExitCode


def _spec_for_url(opts: DeleteOptions):  # type: ignore[no-untyped-def]
    """The spec, only as a fallback for the server URL (a broken file is no reason to stop)."""
    if opts.server.url or opts.server.sandbox:
        return None
    from provisioner.spec import SpecError, load_spec

    try:
        return load_spec(opts.common.file)
    except (SpecError, OSError):
        return None


def run(opts: DeleteOptions) -> int:
    from provisioner.cli.output import header, style_for
    from provisioner.plan.findings import make_row
    from provisioner.render import deletion as render

    log = Log(opts.common)
    ids = list(dict.fromkeys(opts.ids))
    if any(token_id <= 0 for token_id in ids):
        bad = next(token_id for token_id in ids if token_id <= 0)
        raise UsageError(f"token id {bad}: ids are positive whole numbers (see provisioner list)")
    as_json = opts.common.output == "json"
    with connect(opts.server, log, _spec_for_url(opts)) as conn:
        head = header("", conn)
        now = conn.client.now()
        by_id = {token.id: token for token in conn.inventory}
        missing = [token_id for token_id in ids if token_id not in by_id]
        if missing:
            shown = ", ".join(str(i) for i in missing)
            raise ProvisionerError(
                f"{'id' if len(missing) == 1 else 'ids'} {shown}: not a token of this account "
                f"({conn.url}{' as ' + conn.user_label if conn.user_label else ''}); nothing was "
                "deleted. `provisioner list` shows the ids",
                ExitCode.ERROR,
            )
        rows = [make_row(by_id[token_id], now) for token_id in ids]
        preview = render.render_preview(rows, head, now, style_for(opts.common))
        if as_json:
            log.info(preview.rstrip("\n"))  # the data goes to stdout once, at the end
        else:
            sys.stdout.write(preview)
            sys.stdout.flush()
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
            log.error(f"delete: {exc}")
        # The batch route skips ids silently: the listing says what is gone.
        remaining = {token.id for token in conn.client.list_tokens()}
        for token_id in ids:
            if token_id in remaining:
                failures[token_id] = "still on the server after the delete"
    if as_json:
        sys.stdout.write(render.render_json(rows, failures, head, now, done=True))
    else:
        sys.stdout.write(render.render_results(rows, failures, style_for(opts.common)))
    sys.stdout.flush()
    return ExitCode.PARTIAL if failures else ExitCode.OK
