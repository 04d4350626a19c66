"""The shell's face: parser, typed options, session, confirmation, output routing, commands."""

from provisioner.cli.main import main
from provisioner.cli.parser import build_parser

__all__ = ["build_parser", "main"]
