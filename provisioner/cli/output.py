"""Output routing: one document on stdout, workflow commands and logs on stderr.

stdout holds exactly one document in the chosen format (text, json, markdown),
in CI or not (docs/commands.md#outputs). Everything else goes to stderr:
logs, progress, and GitHub Actions workflow commands (``::add-mask::``,
``::error``), which the runner reads from both streams. The one exception is
an explicit ``--keys-to stdout`` (text only): the keys are then the document,
and the plan and the report go to stderr (:func:`document_stream`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import IO, Any

from provisioner.cli import workflow
from provisioner.cli.options import Common
from provisioner.plan.model import Plan
from provisioner.plan.safety import Violation
from provisioner.render.plan import Header, dumps, plan_json, render_markdown, render_text
from provisioner.render.style import Style
from provisioner.secret import Secret


def header(file: str, conn: Any) -> Header:
    """What heads a document: the spec (``-f -`` is ``<stdin>``), the server, the user."""
    from provisioner.spec.loader import STDIN, STDIN_NAME

    shown = STDIN_NAME if file == STDIN else file
    return Header(file=shown, url=conn.url, version=conn.info.version, user=conn.user_label)


def use_color(
    stream: IO[str] | None = None,
    *,
    no_color: bool = False,
    env: Mapping[str, str] = os.environ,
) -> bool:
    """The colour policy, decided here alone (docs/commands.md#commands): ``--no-color``,
    ``NO_COLOR`` and ``TERM=dumb`` turn it off, whatever else is set; then ``FORCE_COLOR``
    turns it on; else a terminal gets colours and anything else none."""
    if no_color or env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    if env.get("FORCE_COLOR"):
        return True
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty()


def style_for(common: Common, stream: Any = None) -> Style:
    return Style(use_color(stream or sys.stdout, no_color=common.no_color))


def add_masks(keys: Iterable[Secret], env: Mapping[str, str] = os.environ) -> int:
    """Under GitHub Actions, ``::add-mask::`` each key on stderr (now, before anything that
    could contain it is written on either stream); the lines printed."""
    return workflow.add_mask(keys, sys.stderr, env)


def keys_on_stdout(sink: object) -> bool:
    """True when the keys themselves go to stdout (``--keys-to stdout``)."""
    description = getattr(sink, "sink", sink)
    return isinstance(description, str) and description.strip() == "stdout"


def document_stream(sink: object = None) -> IO[str]:
    """Where the command's document goes: stdout, or stderr when the keys take stdout.

    ``sink`` is a :class:`~provisioner.cli.delivery.Delivery`, a sink text or None.
    """
    return sys.stderr if keys_on_stdout(sink) else sys.stdout


def emit_plan(
    common: Common,
    plan: Plan,
    head: Header,
    violations: list[Violation],
    *,
    command: str = "plan",
    stream: IO[str] | None = None,
) -> None:
    out = stream if stream is not None else sys.stdout
    if common.output == "json":
        out.write(dumps(plan_json(plan, head, violations)))
    elif common.output == "markdown":
        out.write(render_markdown(plan, head, violations, command=command))
    else:
        out.write(render_text(plan, head, violations, style_for(common, out)))
    out.flush()


def step_summary(
    plan: Plan,
    head: Header,
    violations: list[Violation],
    outcome: str = "",
    *,
    command: str = "plan",
) -> None:
    """Under GitHub Actions, append the Markdown plan to $GITHUB_STEP_SUMMARY (size-capped).

    ``outcome`` (apply's summary line) follows the plan when given.
    """
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not workflow.active() or not path:
        return
    text = render_markdown(plan, head, violations, command=command)
    if outcome:
        from provisioner.render.safe import md_text

        text += f"\n**{md_text(outcome)}**\n"
    full = "*(provisioner: plan omitted, the step summary is full)*\n"
    workflow.append_step_summary(path, text, lambda _room: full)
