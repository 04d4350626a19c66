"""Fault tests reuse the end-to-end fixtures: the real CLI against a real sandbox over HTTP."""

from tests.e2e.conftest import cli, sandbox  # noqa: F401
