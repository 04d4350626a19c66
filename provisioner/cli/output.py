"""Output routing: pick a renderer from the options; write plans to stdout and the step summary."""

from __future__ import annotations

import os
import sys
from typing import Any

from provisioner.cli.options import Common
from provisioner.plan.model import Plan
from provisioner.plan.safety import Violation
from provisioner.render.plan import Header, dumps, plan_json, render_markdown, render_text
from provisioner.render.style import Style, use_color

STEP_SUMMARY_LIMIT = 1_000_000  # GitHub refuses step summaries over 1 MiB


def header(file: str, conn: Any) -> Header:
    return Header(file=file, url=conn.url, version=conn.info.version, user=conn.user_label)


def style_for(common: Common, stream: Any = None) -> Style:
    return Style(use_color(stream or sys.stdout, no_color=common.no_color))


def emit_plan(common: Common, plan: Plan, head: Header, violations: list[Violation]) -> None:
    if common.output == "json":
        sys.stdout.write(dumps(plan_json(plan, head, violations)))
    elif common.output == "markdown":
        sys.stdout.write(render_markdown(plan, head, violations))
    else:
        sys.stdout.write(render_text(plan, head, violations, style_for(common)))
    sys.stdout.flush()


def step_summary(plan: Plan, head: Header, violations: list[Violation], outcome: str = "") -> None:
    """Under GitHub Actions, append the Markdown plan to $GITHUB_STEP_SUMMARY (size-capped).

    ``outcome`` (apply's summary line) follows the plan when given.
    """
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if os.environ.get("GITHUB_ACTIONS") != "true" or not path:
        return
    text = render_markdown(plan, head, violations)
    if outcome:
        text += f"\n**{outcome}**\n"
    try:
        current = os.path.getsize(path)
    except OSError:
        current = 0
    if current + len(text.encode()) > STEP_SUMMARY_LIMIT:
        text = "*(provisioner: plan omitted, the step summary is full)*\n"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)
