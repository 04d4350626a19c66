"""Requests, responses and the small Go-isms every handler shares (no sockets here)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass
class Request:
    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    client_ip: str = "127.0.0.1"

    def arg(self, name: str) -> str:
        values = parse_qs(self.query, keep_blank_values=True).get(name)
        return values[0] if values else ""

    @property
    def target(self) -> str:
        return self.path + ("?" + self.query if self.query else "")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> Response:
        # Go's encoder keeps non-ASCII as UTF-8 and emits compact JSON.
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(status, data, [("Content-Type", "application/json; charset=utf-8")])


def ok(data: Any = None, *, with_data: bool = True) -> Response:
    # gin.H is a Go map: encoding/json writes its keys sorted, so data, message, success.
    payload: dict[str, Any] = {"data": data} if with_data else {}
    payload.update(message="", success=True)
    return Response.json(payload)


def fail(message: str, status: int = 200, **extra: Any) -> Response:
    payload = {"success": False, "message": message, **extra}
    return Response.json(dict(sorted(payload.items())), status)


def too_many(retry_after: int | None) -> Response:
    """HTTP 429 with an empty body, and Retry-After where the generation sends one."""
    headers = [] if retry_after is None else [("Retry-After", str(retry_after))]
    return Response(429, b"", headers)


def server_mask(key: str) -> str:
    """First 4 + 10 stars + last 4; short legacy keys differently (docs/sandbox.md)."""
    if len(key) <= 4:
        return "*" * len(key)
    if len(key) <= 8:
        return key[:2] + "****" + key[-2:]
    return key[:4] + "*" * 10 + key[-4:]


def go_atoi(text: str) -> tuple[int | None, str]:
    """Go's strconv.Atoi: the value, or None and Go's error text."""
    if re.fullmatch(r"[+-]?[0-9]+", text):
        value = int(text)
        if INT64_MIN <= value <= INT64_MAX:
            return value, ""
        return None, f"strconv.Atoi: parsing {json.dumps(text)}: value out of range"
    return None, f"strconv.Atoi: parsing {json.dumps(text)}: invalid syntax"


def lenient_atoi(text: str) -> int:
    value, _ = go_atoi(text)
    return value or 0


def parse_json(body: bytes) -> tuple[Any, str | None]:
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return None, "EOF"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        bad = text[exc.pos] if exc.pos < len(text) else ""
        if not bad:
            return None, "unexpected EOF"
        return None, f"invalid character {bad!r} looking for beginning of value"


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
