"""Entry point of the ``provisioner-validate`` pre-commit hook.

pre-commit passes every matching staged file at once (``FILE...``), which
``provisioner validate -f FILE`` cannot take; this runs ``validate`` on each
and exits 65 if any is invalid.

    python -m provisioner.cli.precommit tokens.yaml other/tokens.yml
"""

from __future__ import annotations

import sys

from provisioner.cli.commands import validate
from provisioner.cli.options import Common, ValidateOptions


def main(argv: list[str] | None = None) -> int:
    files = sys.argv[1:] if argv is None else argv
    worst = 0
    for path in files or ["tokens.yaml"]:
        worst = max(worst, validate.run(ValidateOptions(Common(file=path, no_color=True))))
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
