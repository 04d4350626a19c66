"""A key or credential as a type: every printable form is masked.

Only a sink (or the HTTP layer that must send the credential) calls
:meth:`Secret.reveal`. ``str``, ``repr``, ``format``, JSON (pydantic and
``json.dumps`` via :func:`json_default`) and pickling never expose the value.
"""

from __future__ import annotations

from typing import Any


def mask(value: str) -> str:
    """Mask a key the way the product prints it: ``sk-abcd...wxyz``.

    Short values are masked entirely so that nothing useful leaks.
    """
    prefix = ""
    body = value
    if body.startswith("sk-"):
        prefix, body = "sk-", body[3:]
    if len(body) < 16:
        return prefix + "*" * min(len(body), 8)
    return f"{prefix}{body[:4]}...{body[-4:]}"


class Secret:
    """An opaque secret string. Compare with ``==``; print it masked."""

    __slots__ = ("_value",)
    _value: str  # set once, in __init__ (__setattr__ refuses any later change)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        object.__setattr__(self, "_value", value)

    def __setattr__(self, name: str, value: Any) -> None:  # immutable
        raise AttributeError("Secret is immutable")

    def reveal(self) -> str:
        """The raw value. Call only where it must leave the process (a sink, a header)."""
        return self._value

    @property
    def masked(self) -> str:
        return mask(self._value)

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"Secret({self.masked!r})"

    def __format__(self, spec: str) -> str:
        return format(self.masked, spec)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __len__(self) -> int:
        return len(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")

    # Immutable, so a copy is the same object; without these, copy/deepcopy
    # (pydantic model_copy(deep=True), dataclasses) would hit __reduce__.
    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    # pydantic v2: serialise masked, validate from str
    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            lambda v: v if isinstance(v, Secret) else Secret(v),
            serialization=core_schema.plain_serializer_function_ser_schema(lambda s: s.masked),
        )


def json_default(obj: Any) -> Any:
    """``json.dumps(..., default=json_default)``: masks any Secret that slips into data."""
    if isinstance(obj, Secret):
        return obj.masked
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")
