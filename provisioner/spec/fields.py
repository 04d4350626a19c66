"""Field syntax: the patterns (shared with the JSON Schema) and the parsers.

Each pattern here is used twice: by the pydantic file model (and so by the
published schema) and by the loader. Patterns use only syntax that means the
same in Python ``re`` and ECMA-262 (JSON Schema), e.g. ``[0-9]`` not ``\\d``.
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from provisioner.observed import QUOTA_PER_UNIT_DEFAULT
from provisioner.spec.desired import Budget, Expiry

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
MAX_DURATION_SECONDS = 100 * 365 * 86400
MAX_USD = Decimal(1_000_000)
# The largest raw budget a file may declare: the highest maximum any server generation has
# (1e9 USD at the default rate, new-api v0.10.5 to 2026-08). Each generation's own cap is
# checked at plan time (docs/servers.md); this only catches typos.
MAX_FILE_QUOTA_UNITS = 1_000_000_000 * QUOTA_PER_UNIT_DEFAULT
ZERO_QUOTA_HINT = (
    "a budget of 0 can never make a call; to keep a token but switch it off, "
    "write `status: disabled`"
)

DURATION_PATTERN = r"^[0-9]+[smhdwy]$"
POSITIVE_DURATION_PATTERN = r"^0*[1-9][0-9]*[smhdwy]$"
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_DATETIME = (
    _DATE
    + r"[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?( ?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?))?"
)
EXPIRES_PATTERN = r"^(never|0*[1-9][0-9]*[smhdwy]|" + _DATE + "|" + _DATETIME + ")$"
USD_PATTERN = r"^(\$ ?[0-9]+(\.[0-9]{1,6})?|[0-9]+(\.[0-9]{1,6})? ?[Uu][Ss][Dd])$"
AMOUNT_PATTERN = r"^(unlimited|" + USD_PATTERN[1:-1] + ")$"
KEY_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
NAME_PATTERN = r"^(?!\s)(?!.*\s$)(?!.*\.old-[0-9]{8}$)[^\x00-\x1f\x7f-\x9f]+$"
MODEL_PATTERN = r"^[^\s,]([^,\r\n]*[^\s,])?$"
GROUP_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
AUTO_GROUP_PATTERN = r"^[^\s,]+$"
IP_PATTERN = r"^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$"
URL_PATTERN = r"^https?://[^\s/?#]+[^\s]*$"
SINK_PATTERN = r"^(keyring|stdout|dotenv:\S.*|json:\S.*|exec:\s*\S.*)$"
GLOB_PATTERN = r"^\S(.*\S)?$"
OLD_SUFFIX = re.compile(r"\.old-[0-9]{8}$")

_DURATION_RE = re.compile(r"^([0-9]+)([a-zA-Z]+)$")
_DATETIME_RE = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?"
    r"(?: ?(?:([Zz])|([+-])([0-9]{2})(?::?([0-9]{2}))?))?)?$"
)
_USD_RE = re.compile(USD_PATTERN)
_USD_STEP = Decimal("0.000001")


def parse_duration(text: str) -> int:
    """``90s``, ``30m``, ``12h``, ``7d``, ``4w``, ``1y`` (= 365 days) -> seconds.

    Raises ValueError with a message fit for a person (used by CLI flags too).
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a duration like 12h, 7d or 4w, got {text!r}")
    match = _DURATION_RE.match(text)
    if not match or match.group(2) not in UNIT_SECONDS:
        hint = ""
        if match and match.group(2).lower() in UNIT_SECONDS:
            lowered = f"{match.group(1)}{match.group(2).lower()}"
            # a hint is itself a valid value: not for 0 (refused where a duration must be
            # longer than 0) nor beyond the longest duration
            if 0 < int(match.group(1)) * UNIT_SECONDS[lowered[-1]] <= MAX_DURATION_SECONDS:
                hint = f" (units are lower case: {lowered})"
        raise ValueError(
            f"invalid duration {text!r}: expected a whole number and a unit "
            f"s, m, h, d, w or y (1y = 365d), e.g. 12h, 7d, 4w{hint}"
        )
    seconds = int(match.group(1)) * UNIT_SECONDS[match.group(2)]
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"duration {text!r} is longer than 100 years")
    return seconds


def duration_text(seconds: int) -> str:
    """Seconds as ``7d``, ``12h``, ``30m`` or ``45s``: the largest of days, hours and minutes
    that divides them, else seconds (``0s`` for none)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_datetime(text: str) -> int:
    """``2027-01-01`` (midnight UTC) or an ISO datetime (UTC unless an offset is given) -> epoch."""
    match = _DATETIME_RE.match(text)
    if not match:
        raise ValueError(
            f"invalid date {text!r}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM]"
        )
    year, month, day, hour, minute, second, frac, zulu, sign, off_h, off_m = match.groups()
    try:
        if hour is None:
            moment = datetime.combine(date(int(year), int(month), int(day)), datetime.min.time())
            moment = moment.replace(tzinfo=UTC)
        else:
            tz: timezone = UTC
            if sign:
                offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
                if offset >= timedelta(hours=24):
                    raise ValueError("offset out of range")
                tz = timezone(offset if sign == "+" else -offset)
            micro = int((frac or "0").ljust(6, "0"))
            moment = datetime(
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second or 0),
                micro,
                tzinfo=tz,
            )
        del zulu
        return int(moment.timestamp())
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"invalid date {text!r}: {exc}") from None


def parse_expiry(text: str) -> Expiry:
    """``never`` | a duration (from the token's creation) | a date or datetime."""
    if text == "never":
        return Expiry.never()
    if _DURATION_RE.match(text):
        seconds = parse_duration(text)
        if seconds <= 0:
            raise ValueError(f"expiry {text!r} must be longer than 0 (or write never)")
        return Expiry("relative", seconds=seconds)
    if _DATETIME_RE.match(text):
        return Expiry("absolute", at=parse_datetime(text))
    raise ValueError(
        f"invalid expiry {text!r}: expected never, a duration (12h, 7d, 30d, 90d, 1y) "
        "or a date (2027-01-01, 2027-01-01T00:00:00+08:00)"
    )


def parse_amount(value: object) -> Budget:
    """``unlimited`` | ``"10 USD"`` / ``"10.5 usd"`` / ``"$10"`` | raw quota units (int)."""
    if isinstance(value, bool):
        raise ValueError(
            'quota must be unlimited, an amount like "10 USD" or raw units, not a boolean'
        )
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"quota {value} is negative")
        if value == 0:
            raise ValueError(f"quota {value}: {ZERO_QUOTA_HINT}")
        if value > MAX_FILE_QUOTA_UNITS:
            raise ValueError(
                f"quota {value} is more than {MAX_FILE_QUOTA_UNITS} units, more than any "
                "server takes; is that a typo?"
            )
        return Budget(False, units=value)
    if isinstance(value, float):
        raise ValueError(_float_quota_message(value))
    if not isinstance(value, str):
        raise ValueError('quota must be unlimited, an amount like "10 USD" or raw units')
    text = value
    if text == "unlimited":
        return Budget.unlimited_budget()
    if text.startswith("-") or text.startswith("$-"):
        raise ValueError(f"quota {value!r} is negative")
    if not _USD_RE.match(text):
        raise ValueError(
            f'invalid quota {value!r}: expected unlimited, "10 USD", "$10" '
            "(up to 6 decimals) or a whole number of raw quota units"
        )
    number = text.lstrip("$").strip()
    if number[-3:].lower() == "usd":
        number = number[:-3].strip()
    try:
        usd = Decimal(number)
    except InvalidOperation:  # pragma: no cover - the pattern guarantees a number
        raise ValueError(f"invalid quota {value!r}") from None
    if usd <= 0:
        raise ValueError(f"quota {value!r}: {ZERO_QUOTA_HINT}")
    if usd > MAX_USD:
        raise ValueError(f"quota {value!r} is more than {MAX_USD} USD; is that a typo?")
    return Budget(False, usd=usd)


def _float_quota_message(value: float) -> str:
    """Why a YAML float is not a quota, and the value to write instead (itself valid)."""
    if math.isinf(value) and value > 0:
        return "quota .inf is not an amount: for no budget limit write unlimited"
    if not math.isfinite(value):
        return (
            f"quota {'.nan' if math.isnan(value) else '-.inf'} is not an amount: expected "
            'unlimited, "10 USD", "$10" or a whole number of raw quota units'
        )
    if value < 0:
        return f"quota {value!r} is negative"
    if value == 0:
        return f"quota {value!r}: {ZERO_QUOTA_HINT}"
    shown = repr(value)
    reason = f"quota {shown} is not a whole number: a bare number is raw quota units"
    if value == int(value):
        reason = f"quota {shown} is written as a decimal: raw quota units are a whole number"
    usd = Decimal(shown)
    # the file takes dollars to 6 decimals; as written when they fit (1.5, not 1.500000)
    rounded = usd if usd > MAX_USD else usd.quantize(_USD_STEP)
    note = "" if rounded == usd else " (dollars take up to 6 decimals)"
    if rounded == usd:
        rounded = usd
    candidates: list[tuple[str, str | int]] = [
        (f'for dollars write "{rounded:f} USD"', f"{rounded:f} USD")
    ]
    if value == int(value):
        candidates.append((f"for raw units write {int(value)}", int(value)))
    for advice, candidate in candidates:
        try:
            parse_amount(candidate)
        except ValueError:
            continue
        return f"{reason}; {advice}{note}"
    if rounded == 0:
        return f"{reason}, and {shown} USD rounds to 0 at 6 decimals: {ZERO_QUOTA_HINT}"
    if value == int(value):
        return f"{reason}, and it is more than any server takes, as units or as USD; a typo?"
    return f"{reason}, and as dollars it is more than {MAX_USD} USD; is that a typo?"


def check_ip(text: str) -> str:
    """An IPv4/IPv6 address or CIDR network, returned normalised. ValueError with a hint."""
    if "%" in text:
        raise ValueError(f"{text!r}: scoped IPv6 addresses are not supported")
    try:
        if "/" in text:
            return str(ipaddress.ip_network(text, strict=True))
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if "/" in text:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            pass
        else:
            raise ValueError(f"{text!r} has host bits set; did you mean {network}?") from None
    raise ValueError(f"{text!r} is not an IPv4/IPv6 address or CIDR network") from None


def check_sink_syntax(text: str) -> str:
    """keyring | stdout | dotenv:PATH | json:PATH | exec:CMD ARGS..."""
    if re.match(SINK_PATTERN, text):
        return text
    kind = text.split(":", 1)[0]
    if kind in ("dotenv", "json"):
        raise ValueError(
            f"key sink {text!r} needs a path, e.g. "
            f"{kind}:.provisioner/keys.{'json' if kind == 'json' else 'env'}"
        )
    if kind == "exec":
        raise ValueError(
            f"key sink {text!r} needs a command, e.g. exec:vault kv put secret/{{key_name}} value=-"
        )
    raise ValueError(
        f"unknown key sink {text!r}: expected keyring, stdout, dotenv:PATH, json:PATH "
        "or exec:CMD..."
    )
