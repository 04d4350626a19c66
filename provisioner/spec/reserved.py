"""Names the file may not use: the namespace of apply's lock tokens. Pure.

apply holds the account with lock tokens named ``provisioner.lock.<8 hex digits>``
(docs/reconcile.md#one-apply-at-a-time). A token of the file in that namespace
would be taken for a lock, or a lock for it, so ``validate`` refuses such names,
and names that only look like them to a person: any case, any separator
(``provisioner-lock``, ``Provisioner_Lock``), full-width and accented letters,
invisible characters, and the Cyrillic and Greek letters (and digits) that pass
for Latin ones (``prоvisioner.lock`` with a Cyrillic ``о``).
"""

from __future__ import annotations

import unicodedata

#: the name every lock token starts with (the rest: 8 lowercase hex digits)
LOCK_PREFIX = "provisioner.lock."
#: the namespace as people read it
LOCK_NAMESPACE = "provisioner.lock.*"

# Characters that pass for the letters of "provisionerlock", mapped to one spelling each
# (i, l, 1 and | all look alike, so they share one). After NFKD (full-width letters, and
# accents split off) and casefold.
_LOOK_ALIKES = {
    "i": "l",
    "1": "l",
    "|": "l",
    "!": "l",
    "ı": "l",  # dotless i
    "ɩ": "l",
    "ι": "l",  # Greek iota
    "і": "l",  # Cyrillic i
    "ӏ": "l",  # Cyrillic palochka
    "0": "o",
    "о": "o",  # Cyrillic o
    "ο": "o",  # Greek omicron
    "σ": "o",
    "р": "p",  # Cyrillic er
    "ρ": "p",  # Greek rho
    "е": "e",  # Cyrillic ie
    "ε": "e",
    "с": "c",  # Cyrillic es
    "ϲ": "c",  # Greek lunate sigma
    "к": "k",  # Cyrillic ka
    "κ": "k",  # Greek kappa
    "ѕ": "s",  # Cyrillic dze
    "5": "s",
    "$": "s",
    "ν": "v",  # Greek nu
    "ѵ": "v",  # Cyrillic izhitsa
    "п": "n",
    "η": "n",
    "г": "r",
}


def _skeleton(name: str) -> str:
    """The letters a person reads in ``name``: look-alikes folded, everything else dropped."""
    out: list[str] = []
    for char in unicodedata.normalize("NFKD", name).casefold():
        char = _LOOK_ALIKES.get(char, char)
        if char.isascii() and char.isalnum():
            out.append(char)
    return "".join(out)


_RESERVED_SKELETON = _skeleton("provisionerlock")


def is_reserved_name(name: str) -> bool:
    """True for a name in the lock tokens' namespace, or one a person would take for it.

    :func:`_skeleton` read letter by letter, stopping at the first that differs: every
    token of a big file and of the account passes through here, and most differ at once.
    """
    # NFKD leaves ASCII as it is, and casefold is lower() there
    text = name.lower() if name.isascii() else unicodedata.normalize("NFKD", name).casefold()
    matched = 0
    for char in text:
        char = _LOOK_ALIKES.get(char, char)
        if not (char.isascii() and char.isalnum()):
            continue
        if char != _RESERVED_SKELETON[matched]:
            return False
        matched += 1
        if matched == len(_RESERVED_SKELETON):
            return True
    return False


def reserved_name_message(name: str) -> str:
    """Why ``name`` is refused, and what to do (for validate's FILE:LINE message)."""
    if name.lower().startswith(LOCK_PREFIX) or name == LOCK_PREFIX[:-1]:
        why = "is in the namespace of apply's lock tokens"
    else:
        why = "looks like a name in the namespace of apply's lock tokens"
        hidden = list(dict.fromkeys(c for c in name if not c.isascii() or not c.isprintable()))
        if hidden:
            shown = ", ".join(f"U+{ord(c):04X}" for c in hidden[:4])
            why += f" (it holds characters that are not plain ASCII: {shown})"
    return (
        f"name {name!r} {why} ({LOCK_NAMESPACE}, reserved: a token of that name would be "
        "taken for a lock, or a lock for it); choose another name"
    )
