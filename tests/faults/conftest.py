"""Fault tests reuse the end-to-end fixtures: the real CLI against a real sandbox over HTTP."""

from collections.abc import Iterator

import pytest

from provisioner.sandbox import Sandbox
from tests.e2e.conftest import cli, sandbox  # noqa: F401
from tests.faults.helpers import Traffic


@pytest.fixture
def traffic(sandbox: Sandbox) -> Iterator[Traffic]:  # noqa: F811
    """The sandbox's requests watched from their arrival (see Traffic); nothing stays held."""
    watched = Traffic(sandbox)
    yield watched
    watched.release()
