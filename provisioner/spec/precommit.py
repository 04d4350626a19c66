"""Entry point of the ``provisioner-validate`` pre-commit hook.

pre-commit passes every matching staged file at once (``FILE...``), which
``provisioner validate -f FILE`` cannot take; this runs ``validate`` on each
and exits 65 if any is invalid.

    python -m provisioner.spec.precommit tokens.yaml other/tokens.yml
"""

from __future__ import annotations

import argparse
import sys

from provisioner.commands import validate


def main(argv: list[str] | None = None) -> int:
    files = sys.argv[1:] if argv is None else argv
    worst = 0
    for path in files or ["tokens.yaml"]:
        args = argparse.Namespace(file=path, output="text", quiet=False, verbose=0, no_color=True)
        worst = max(worst, validate.run(args))
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
