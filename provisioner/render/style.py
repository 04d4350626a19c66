"""Terminal styling and human formats shared by the renderers."""

from __future__ import annotations

from typing import Any

from provisioner.humanize import relative, utc_time

__all__ = ["Style", "budget_text", "iso_time", "money", "relative"]

_CODES = {
    "green": "32",
    "yellow": "33",
    "red": "31",
    "cyan": "36",
    "bold": "1",
    "dim": "2",
    "magenta": "35",
}


class Style:
    """Colours for a terminal, or none: whether to colour is the shell's decision
    (:func:`provisioner.cli.output.use_color`)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, *names: str) -> str:
        if not self.enabled or not names or not text:
            return text
        codes = ";".join(_CODES[n] for n in names)
        return f"\x1b[{codes}m{text}\x1b[0m"


def iso_time(epoch: int | None) -> str:
    if epoch is None:
        return "-"
    if epoch == -1:
        return "never"
    return utc_time(epoch, "minute")


def money(units: int, quota_per_unit: int) -> str:
    """Quota units as USD for people: ``$12.50``."""
    usd = units / quota_per_unit if quota_per_unit else 0
    return f"${usd:,.2f}"


def budget_text(value: Any, quota_per_unit: int) -> str:
    if value is None:
        return "-"
    if value == "unlimited":
        return "unlimited"
    if isinstance(value, int):
        return f"{money(value, quota_per_unit)} ({value:,} units)"
    return str(value)
