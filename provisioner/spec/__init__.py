"""The token spec: YAML loading with locations, schema, validation, the desired model.

Public API::

    load_spec(path, *, now=None) -> Spec          # raises SpecError
    load_spec_text(text, filename, *, now=None) -> Spec
    parse_duration("7d") -> 604800                # ValueError with a readable message
    SpecError(.diagnostics: list[Diagnostic]), Diagnostic(file, line, col, message)
"""

from provisioner.spec.desired import (
    Budget,
    DesiredToken,
    Expiry,
    Location,
    Manage,
    RotatePolicy,
    Safety,
    Spec,
    derive_key_name,
    expand_name,
)
from provisioner.spec.diagnostics import Diagnostic, SpecError
from provisioner.spec.fields import parse_amount, parse_datetime, parse_duration, parse_expiry
from provisioner.spec.loader import load_spec, load_spec_text

__all__ = [
    "Budget",
    "DesiredToken",
    "Diagnostic",
    "Expiry",
    "Location",
    "Manage",
    "RotatePolicy",
    "Safety",
    "Spec",
    "SpecError",
    "derive_key_name",
    "expand_name",
    "load_spec",
    "load_spec_text",
    "parse_amount",
    "parse_datetime",
    "parse_duration",
    "parse_expiry",
]
