"""Every value a spec error suggests is itself valid: fed back through the loader, it loads.

A "did you mean", a "quote it", a "write ..." or an "e.g." that is itself refused sends the
user round in circles (``quota: .inf`` once suggested ``"inf USD"``). Each case below puts
one bad key or value in an otherwise valid file; every suggestion found in the errors is
put in its place, and the file must then load.
"""

from __future__ import annotations

import re

import pytest

from provisioner.spec import SpecError, load_spec_text

NOW = 1767225600

TOKEN = "version: 1\nkeys: {{to: keyring}}\ntokens:\n  - name: t\n    {k}: {v}\n"
EVERY = "version: 1\nkeys: {{to: keyring}}\ntokens:\n  - name: t\n    rotate: {{{k}: {v}}}\n"
OVERLAP = (
    "version: 1\nkeys: {{to: keyring}}\ntokens:\n"
    "  - name: t\n    rotate: {{every: 30d, {k}: {v}}}\n"
)
NAME = "version: 1\ntokens:\n  - {k}: {v}\n"
LIST = "version: 1\ntokens:\n  - name: t\n    {k}: [{v}]\n"
GROUPS = "version: 1\ntokens:\n  - name: t\n    group: auto\n    {k}: [{v}]\n"
TOP = "version: 1\n{k}: {v}\ntokens:\n  - name: t\n"
SERVER = "version: 1\nserver: {{{k}: {v}}}\ntokens:\n  - name: t\n"
KEYS = "version: 1\nkeys: {{{k}: {v}}}\ntokens:\n  - name: t\n"
MANAGE = "version: 1\nmanage: {{{k}: [{v}]}}\ntokens:\n  - name: t\n"
SAFETY = "version: 1\nsafety: {{{k}: {v}}}\ntokens:\n  - name: t\n"
DEFAULTS = "version: 1\ndefaults: {{{k}: {v}}}\ntokens:\n  - name: t\n"

# (template, key, value, whether at least one suggestion is expected)
CASES = [
    *[
        (TOKEN, "quota", value, suggests)
        for value, suggests in [
            (".inf", True),
            ("-.inf", False),
            (".nan", False),
            ("1.5", True),
            ("1.0", True),
            ("1.0e+7", True),
            ("1.0e+30", False),
            ("0.0", True),
            ("0", True),
            ('"0 USD"', True),
            ("-2.5", False),
            ("10.1234567", True),
            ("1.0e-7", True),
            ("1000000.5", False),
            ('"10 EUR"', False),
        ]
    ],
    *[
        (TOKEN, "expires", value, suggests)
        for value, suggests in [
            ("7D", True),
            ("0D", False),
            ("101Y", False),
            ("36500D", True),
            ('"90 days"', False),
        ]
    ],
    *[
        (EVERY, "every", value, suggests)
        for value, suggests in [("7D", True), ("0W", False), ("200Y", False)]
    ],
    *[(OVERLAP, "overlap", value, suggests) for value, suggests in [("1D", True), ("0D", False)]],
    *[
        (TOKEN, "key_name", value, suggests)
        for value, suggests in [
            ("2027-01-01", True),
            ("123", True),
            ("my-key", True),
            ("true", True),
            ("1.5", True),
            ('"视频"', True),
        ]
    ],
    *[(NAME, "name", value, True) for value in ("123", "2027-01-01", "yes", "1.5")],
    (TOKEN, "group", "123", True),
    (TOKEN, "status", "off", False),
    *[(LIST, "models", value, True) for value in ("1.5", "2027-01-01", "true")],
    *[
        (LIST, "allow_ips", value, suggests)
        for value, suggests in [
            ("10", False),
            ("10.0.0.1/8", True),
            ("2001:db8::1/32", True),
            ("1.2.3.4/33", False),
        ]
    ],
    *[(GROUPS, "auto_groups", value, True) for value in ("1", "true")],
    *[
        (TOKEN, key, value, True)
        for key, value in [
            ("qouta", '"1 USD"'),
            ("Quota", "unlimited"),
            ("expire", "never"),
            ("keyname", "MY_KEY"),
            ("modles", "[gpt-4o]"),
        ]
    ],
    (EVERY, "evrey", "30d", True),
    (TOP, "colour", "blue", False),
    (TOP, "defualts", "{}", True),
    (TOP, "X-base", "{quota: 1 USD}", True),
    (SERVER, "url", "123", False),
    (SERVER, "ulr", "http://127.0.0.1:3000", True),
    (KEYS, "to", "123", False),
    (KEYS, "to", '"dotenv:"', True),
    (KEYS, "to", '"json:"', True),
    (KEYS, "to", '"exec:"', True),
    (KEYS, "too", "keyring", True),
    (MANAGE, "match", "1", True),
    (SAFETY, "min_idle", "1H", True),
    (SAFETY, "max_delets", "3", True),
    (DEFAULTS, "qouta", "1", True),
    (DEFAULTS, "quota", "1.5", True),
]

# What a message suggests, and how it is put back: in place of the key, of the value, or of
# the whole `key: value` entry.
SUGGESTIONS = [
    (re.compile(r"did you mean '([^']+)'"), "key"),
    (re.compile(r'quote it: ("[^"]*")'), "value"),
    (re.compile(r'write ("[^"]+")'), "value"),
    (re.compile(r"write (unlimited)\b"), "value"),
    (re.compile(r"raw units write ([0-9]+)"), "value"),
    (re.compile(r"units are lower case: ([0-9]+[a-z])"), "value"),
    (re.compile(r"did you mean ([0-9A-Fa-f:./]+)\?"), "value"),
    (re.compile(r"e\.g\. ([A-Z_][A-Z0-9_]*)$"), "value"),
    (re.compile(r"e\.g\. ((?:dotenv|json|exec):\S.*)$"), "quoted"),
    (re.compile(r"write `([a-z_]+: [a-z]+)`"), "entry"),
]


def _errors(text: str) -> list[str]:
    try:
        load_spec_text(text, "s.yaml", now=NOW)
    except SpecError as exc:
        return [d.message for d in exc.diagnostics]
    return []


def _suggestions(messages: list[str]) -> list[tuple[str, str]]:
    return [
        (match.group(1), how)
        for message in messages
        for pattern, how in SUGGESTIONS
        for match in pattern.finditer(message)
    ]


@pytest.mark.parametrize(
    ("template", "key", "value", "suggests"), CASES, ids=[f"{k}={v}" for _, k, v, _ in CASES]
)
def test_each_suggestion_loads(template: str, key: str, value: str, suggests: bool) -> None:
    messages = _errors(template.format(k=key, v=value))
    assert messages, "the case must be an error"
    found = _suggestions(messages)
    assert bool(found) == suggests, messages
    for suggestion, how in found:
        if how == "key":
            fixed = template.format(k=suggestion, v=value)
        elif how == "entry":
            fixed = template.replace("{k}: {v}", suggestion).format()
        elif how == "quoted":
            fixed = template.format(k=key, v='"' + suggestion.replace('"', '\\"') + '"')
        else:
            fixed = template.format(k=key, v=suggestion)
        assert _errors(fixed) == [], (messages, suggestion, fixed)
