"""A local new-api-compatible token server for newcomers and tests (PRODUCT §6)."""

from provisioner.sandbox.faults import Fault, FaultSpecError, parse_fault
from provisioner.sandbox.server import Sandbox

__all__ = ["Fault", "FaultSpecError", "Sandbox", "parse_fault"]
