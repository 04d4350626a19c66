"""Each sandbox profile against the recording of the real server it models.

record.py's script is played against the sandbox in-process on loopback and
compared exchange by exchange (compare.py; README.md says what counts).
"""

from __future__ import annotations

import pytest
from provisioner.sandbox.profiles import RECORDED
from tests.conformance.compare import THRESHOLD, compare, recording, replay

# Exchanges a sandbox cannot match without faking them (README.md, "Cannot match").
CANNOT_MATCH: dict[str, set[str]] = {
    "one-api-2025-02": set(),
    "new-api-2025-10": {"reveal one", "relay models: empty key"},
    "new-api-2026-07": set(),
    "new-api-2026-08": set(),
}


@pytest.mark.parametrize("profile", RECORDED)
def test_profile_matches_its_recording(profile: str) -> None:
    recorded = recording(profile)
    replayed = replay(profile, header_auth=bool(recorded["header_auth"]))
    outcome = compare(profile, recorded["exchanges"], replayed)
    print(outcome.report())
    assert outcome.ratio >= THRESHOLD, outcome.report()
    assert {d.step for d in outcome.differences} <= CANNOT_MATCH[profile], outcome.report()


def test_the_comparison_sees_a_generation_apart() -> None:
    """2026-07 against 2026-08's recording: auth, fields and flips must show up as differences."""
    recorded = recording("new-api-2026-08")
    replayed = replay("new-api-2026-07", header_auth=True)
    outcome = compare("new-api-2026-07", recorded["exchanges"], replayed)
    differing = {d.step for d in outcome.differences}
    assert {"wrong credential", "get full", "list after relay calls (lazy status flips)"} <= (
        differing
    )
    assert "no New-Api-User header" in differing  # a step the recording does not have
    assert outcome.ratio < THRESHOLD


def test_cannot_match_list_is_documented() -> None:
    from pathlib import Path

    readme = (Path(__file__).parent / "README.md").read_text("utf-8")
    for profile, steps in CANNOT_MATCH.items():
        for step in steps:
            assert f"`{profile}` · `{step}`" in readme


# new-api-2026-10 (v1.0.0-rc.41 and later) is read from source, not recorded (README.md,
# "Read from source"). Its token API keeps 2026-08's shapes; what changed is the credential.
UNRECORDED = "new-api-2026-10"
READ_FROM = (
    "middleware/auth.go",
    "middleware/access_token_routes.go",
    "service/access_token_scope.go",
    "model/user_access_token.go",
    "router/api-router.go",
    "model/audit_log.go",
    "controller/token.go",
)


def test_the_unrecorded_generation_answers_the_2026_08_script_as_recorded() -> None:
    """Played with its scoped nap_ token (and Redis, as the 2026-08 server ran), every step of
    the 2026-08 recording comes back the same: envelopes, fields, order, messages, codes."""
    recorded = recording("new-api-2026-08")
    replayed = replay(UNRECORDED, header_auth=False, redis=True)
    outcome = compare(UNRECORDED, recorded["exchanges"], replayed)
    print(outcome.report())
    assert outcome.differences == [], outcome.report()
    assert outcome.matched == outcome.total == len(recorded["exchanges"])


def test_the_unrecorded_generation_says_where_it_was_read_from() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readme = (Path(__file__).parent / "README.md").read_text("utf-8")
    servers = (root / "docs" / "servers.md").read_text("utf-8")
    sandbox = (root / "docs" / "sandbox.md").read_text("utf-8")
    for text in (readme, servers, sandbox):
        assert UNRECORDED in text and "read from source" in text.lower()
    for path in READ_FROM:
        assert path in readme, path
        assert path in servers, path
