"""``provisioner sandbox``: delegates to :mod:`provisioner.sandbox.cli`."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from provisioner.sandbox.cli import main

    return main(args)
