"""Apply walks a plan against the server (docs/reconcile.md#order-of-apply), as tables.

Plans come from the real ``diff`` of a small spec against an in-memory server
(tests/execute/fakes.py); each test checks what a user would: the report's
statuses and messages, what was sent, and what the server and the sink hold after.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from provisioner.execute.executor import Executor
from provisioner.newapi.errors import (
    AuthError,
    BusinessError,
    ConnectionFailedError,
    NewApiError,
    NotNewApiError,
    RateLimitedError,
    ServerError,
    UnsupportedError,
)
from provisioner.observed import ObservedToken, TokenStatus
from provisioner.plan.diff import diff
from provisioner.plan.model import Plan
from provisioner.plan.ownership import pending_name, rotation_name
from provisioner.report import OpResult, Report
from provisioner.secret import Secret
from provisioner.spec.desired import (
    Budget,
    DesiredToken,
    Expiry,
    RotatePolicy,
    Spec,
    derive_key_name,
)
from tests.action_builder import make_action
from tests.execute.fakes import (
    DAY,
    NOW,
    FakeServer,
    FakeSink,
    Recorder,
    ambiguous,
    cap_message,
    full_key,
)

# -- builders -------------------------------------------------------------------------


def want(name: str, **kw: Any) -> DesiredToken:
    return DesiredToken(
        name=name, base_name=name, index=1, count=1, key_name=derive_key_name(name), **kw
    )


def plan_for(
    server: FakeServer, *tokens: DesiredToken, sink_keys: dict[str, Any] | None = None
) -> tuple[Plan, list[ObservedToken]]:
    """The plan apply would make now, and the inventory it was made from (no call logged)."""
    inventory = sorted(server.tokens.values(), key=lambda t: -t.id)
    spec = Spec(path="tokens.yaml", digest="d", tokens=tokens)
    return diff(spec, inventory, NOW, sink_keys=sink_keys), inventory


def apply(
    server: FakeServer,
    *tokens: DesiredToken,
    sink: FakeSink | None = None,
    sink_keys: dict[str, Any] | None = None,
    **kw: Any,
) -> Report:
    plan, inventory = plan_for(server, *tokens, sink_keys=sink_keys)
    return Executor(
        plan,
        server,
        inventory,
        deliver=sink.deliver if sink else None,
        forget=sink.forget if sink else None,
        **kw,
    ).run()


def outcome(report: Report) -> list[tuple[str, str, str]]:
    return [(r.kind, r.name, r.status) for r in report.results]


def result(report: Report, kind: str, name: str) -> OpResult:
    (found,) = [r for r in report.results if r.kind == kind and r.name == name]
    return found


def new_server() -> FakeServer:
    return FakeServer(next_id=1)


# -- order and the re-list ------------------------------------------------------------


def _mixed_server() -> FakeServer:
    server = new_server()
    server.add("b")  # unlimited; the file wants a budget: update
    server.add("c", status=TokenStatus.DISABLED)  # declared enabled: enable
    server.add("d")  # the sink lacks its key: deliver
    server.add("e")  # declared disabled: disable
    server.add("f")  # declared absent: delete
    return server


_MIXED = (
    want("a"),
    want("b", quota=Budget(False, units=1000)),
    want("c"),
    want("d"),
    want("e", status="disabled"),
    want("f", status="absent"),
)


@pytest.mark.parametrize(
    "shuffle",
    [
        pytest.param(lambda xs: xs, id="as planned"),
        pytest.param(lambda xs: xs[::-1], id="reversed"),
        pytest.param(lambda xs: xs[3:] + xs[:3], id="rotated"),
    ],
)
def test_apply_order_is_creates_updates_enables_deliver_disables_deletes(shuffle) -> None:
    server = _mixed_server()
    plan, inventory = plan_for(server, *_MIXED, sink_keys={"D": None})
    plan.actions = shuffle(list(plan.actions))
    sink = FakeSink()

    report = Executor(plan, server, inventory, deliver=sink.deliver, forget=sink.forget).run()

    assert server.calls == [
        ("create_token", "a"),
        ("list_tokens", None),  # one re-list to learn the new id
        ("reveal_keys", (6,)),  # the new key is delivered before anything else changes
        ("update_token", 1),
        ("set_status", (2, 1)),
        ("reveal_keys", (2, 3)),  # the revived token's key, then the key the sink lacks
        ("set_status", (4, 2)),
        ("delete_tokens", (5,)),
    ]
    assert outcome(report) == [
        ("create", "a", "ok"),
        ("update", "b", "ok"),
        ("enable", "c", "ok"),
        ("deliver", "d", "ok"),
        ("disable", "e", "ok"),
        ("delete", "f", "ok"),
        ("deliver", "a", "ok"),
        ("deliver", "c", "ok"),
    ]
    assert report.ok and report.keys_delivered == 3
    assert sorted(sink.keys) == ["A", "C", "D"]
    assert server.one("b").remain_quota == 1000 and not server.one("b").unlimited_quota
    assert server.one("e").status == TokenStatus.DISABLED and not server.named("f")


def test_empty_plan_sends_nothing() -> None:
    server = new_server()
    server.add("a")
    report = apply(server, want("a"), sink=FakeSink())
    assert server.calls == [] and report.results == [] and report.ok


def test_creates_are_matched_by_exact_name_after_one_relist() -> None:
    server = new_server()
    for look_alike in ("CI", "ci-2", "ci ", "ci-bot.old-20260101"):
        server.add(look_alike)  # ids 1..4, none of them is ours
    sink = FakeSink()

    report = apply(server, want("ci"), want("ci-bot"), sink=sink)

    assert server.count("create_token") == 2 and server.count("list_tokens") == 1
    assert [(r.name, r.token_id) for r in report.results if r.kind == "create"] == [
        ("ci", 5),
        ("ci-bot", 6),
    ]
    assert sink.keys["CI"].reveal() == "sk-" + full_key(5)
    assert sink.keys["CI_BOT"].reveal() == "sk-" + full_key(6)


def test_a_twin_created_meanwhile_is_a_conflict_and_gets_no_key() -> None:
    server = new_server()

    def neighbour(srv: FakeServer, token: ObservedToken) -> None:
        srv.after_create = None
        srv.add(token.name)  # another apply made one at the same moment

    server.after_create = neighbour
    sink = FakeSink()

    report = apply(server, want("ci"), sink=sink)

    create = result(report, "create", "ci")
    assert create.status == "failed"
    assert create.error in (
        "2 new tokens named 'ci' (ids 1, 2): conflict",
        "2 new tokens named 'ci' (ids 2, 1): conflict",  # in the listing's order
    )
    assert server.count("reveal_keys") == 0 and sink.keys == {}


def test_declared_disabled_new_token_is_created_delivered_then_disabled() -> None:
    server = new_server()
    sink = FakeSink()
    report = apply(server, want("x", status="disabled"), sink=sink)
    assert outcome(report) == [
        ("create", "x", "ok"),
        ("disable", "x", "ok"),
        ("deliver", "x", "ok"),
    ]
    assert result(report, "disable", "x").token_id == 1
    assert server.one("x").status == TokenStatus.DISABLED and "X" in sink.keys


def test_disable_of_a_create_that_failed_is_skipped() -> None:
    server = new_server()
    server.on("create_token", 1, BusinessError("令牌名称过长"))
    report = apply(server, want("x", status="disabled"), sink=FakeSink())
    disable = result(report, "disable", "x")
    assert disable.status == "skipped" and disable.error == "'x' was not created"
    assert server.count("set_status") == 0


def test_without_a_sink_new_keys_are_pending_and_never_revealed() -> None:
    server = new_server()
    report = apply(server, want("a"), want("b"))
    assert report.keys_pending == ["a", "b"] and report.keys_delivered == 0
    assert server.count("reveal_keys") == 0
    assert outcome(report) == [("create", "a", "ok"), ("create", "b", "ok")]


def test_relist_failure_after_creates_reports_them_created_with_keys_undelivered() -> None:
    server = new_server()
    server.on("list_tokens", 1, ConnectionFailedError("connection reset"))
    report = apply(server, want("a"), sink=FakeSink())
    create = result(report, "create", "a")
    assert create.status == "ok" and "re-listing failed (connection reset)" in create.detail
    assert report.keys_undelivered == ["a"] and server.count("reveal_keys") == 0


def test_relist_failure_without_a_sink_still_names_the_pending_key() -> None:
    server = new_server()
    server.on("list_tokens", 1, ConnectionFailedError("connection reset"))
    report = apply(server, want("a"))
    assert report.keys_pending == ["a"]


# -- ambiguous creates ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "commit", "posts", "lists", "status", "on_server", "message"),
    [
        pytest.param(ambiguous(), True, 1, 1, "ok", 1, "", id="committed: no second POST"),
        pytest.param(
            ambiguous(), False, 2, 2, "ok", 1, "", id="not committed: exactly one second POST"
        ),
        pytest.param(ambiguous(timed_out=True), True, 1, 1, "ok", 1, "", id="timed out, listed"),
        pytest.param(
            ambiguous(timed_out=True),
            False,
            1,
            1,
            "failed",
            0,
            "no answer within 30 s (timeout) and not listed yet: the server may still create "
            "it; rerun apply later (it then delivers the key of a if it exists)",
            id="timed out, not listed: no second POST",
        ),
    ],
)
def test_an_ambiguous_create_is_resolved_by_relisting(
    error: NewApiError,
    commit: bool,
    posts: int,
    lists: int,
    status: str,
    on_server: int,
    message: str,
) -> None:
    server = new_server()
    server.on("create_token", 1, error, commit=commit)
    sink = FakeSink()

    report = apply(server, want("a"), sink=sink)

    create = result(report, "create", "a")
    assert (create.status, create.error) == (status, message)
    if status == "ok":
        assert create.detail.startswith(f"outcome unknown ({error}); checked by re-listing")
    else:  # the error says it all, once (not again in the detail)
        assert create.detail == "" and create.error.count("no answer") == 1
    assert server.count("create_token") == posts and server.count("list_tokens") == lists
    assert len(server.named("a")) == on_server
    assert ("A" in sink.keys) == (status == "ok")


def test_an_ambiguous_create_whose_second_post_fails_is_reported_failed() -> None:
    server = new_server()
    server.on("create_token", 1, ambiguous())
    server.on("create_token", 2, BusinessError("数据库错误"))
    report = apply(server, want("a"), sink=FakeSink())
    create = result(report, "create", "a")
    assert create.status == "failed"
    assert create.error == (
        "not created: the first POST did not commit and the second failed: 数据库错误"
    )
    assert server.named("a") == []


def test_a_create_whose_both_posts_failed_is_not_reported_ok_when_relist_fails() -> None:
    server = new_server()
    server.on("create_token", 1, ambiguous())
    server.on("create_token", 2, BusinessError("数据库错误"))
    server.on("list_tokens", 2, ConnectionFailedError("connection reset"))
    report = apply(server, want("a"), sink=FakeSink())
    assert server.named("a") == []
    assert result(report, "create", "a").status != "ok"


# -- a create refused for good stops the phase ----------------------------------------


def test_the_token_cap_stops_the_create_phase_and_names_the_cap() -> None:
    server = FakeServer(next_id=1, cap=3)
    server.add("x")
    server.add("y")
    report = apply(server, want("a"), want("b"), want("c"), want("d"), sink=FakeSink())

    assert outcome(report) == [
        ("create", "a", "ok"),
        ("create", "b", "failed"),
        ("create", "c", "skipped"),
        ("create", "d", "skipped"),
        ("deliver", "a", "ok"),
    ]
    assert result(report, "create", "b").error == cap_message(3) + " (POST /api/token/)"
    for name in ("c", "d"):
        assert result(report, "create", name).error.startswith(
            f"not sent: an earlier create failed with {cap_message(3)}"
        )
    assert server.count("create_token") == 2  # c and d were not sent
    assert report.notes == [
        "The server caps this account at 3 tokens. The account holds 3 tokens and its cap is "
        "3: make room with `provisioner list` (it shows them) and `provisioner delete ID`, or "
        "lower a `count` in the file. Set server.max_tokens: 3 in the file, and plan refuses "
        "what cannot fit before anything is sent."
    ]
    assert not report.ok and [r.name for r in report.failed] == ["b", "c", "d"]


@pytest.mark.parametrize(
    ("error", "stops", "note"),
    [
        (AuthError("access token invalid", status=401), True, False),
        (ConnectionFailedError("connection refused"), True, False),
        (RateLimitedError("429 Too Many Requests"), True, False),
        (UnsupportedError("no route"), True, False),
        (NotNewApiError("an HTML page"), True, False),
        (BusinessError("maximum number of tokens reached"), True, False),
        (BusinessError("token limit (50) reached"), True, True),
        (BusinessError("令牌名称过长"), False, False),  # only this token
        (ServerError("internal error", status=500), False, False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_which_create_failures_stop_the_phase(error: NewApiError, stops: bool, note: bool) -> None:
    server = new_server()
    server.on("create_token", 2, error)
    report = apply(server, want("a"), want("b"), want("c"), want("d"))

    rest = "skipped" if stops else "ok"
    assert [(r.name, r.status) for r in report.results] == [
        ("a", "ok"),
        ("b", "failed"),
        ("c", rest),
        ("d", rest),
    ]
    assert result(report, "create", "b").error == str(error)
    assert server.count("create_token") == (2 if stops else 4)
    assert bool(report.notes) == note


# -- key delivery ---------------------------------------------------------------------


def test_a_key_the_sink_refuses_gets_its_new_token_disabled() -> None:
    server = new_server()
    sink = FakeSink(refuse={"b": "disk full"})
    report = apply(server, want("a"), want("b"), sink=sink)

    deliver = result(report, "deliver", "b")
    assert (deliver.status, deliver.error, deliver.detail) == (
        "failed",
        "disk full",
        "new token disabled",
    )
    assert result(report, "create", "b").status == "ok"  # the token exists; its key does not
    assert server.one("b").status == TokenStatus.DISABLED
    assert server.one("a").status == TokenStatus.ENABLED and "A" in sink.keys
    assert report.keys_delivered == 1 and not report.ok


@pytest.mark.parametrize(
    ("setup", "errors", "details"),
    [
        pytest.param(
            lambda s, k: s.on("reveal_keys", 1, ConnectionFailedError("reset")),
            {"a": "reveal failed: reset", "b": "reveal failed: reset"},
            {"a": "new token disabled", "b": "new token disabled"},
            id="reveal fails",
        ),
        pytest.param(
            lambda s, k: s.unrevealable.add(2),
            {"b": "reveal returned no key"},
            {"b": "new token disabled"},
            id="reveal leaves one out",
        ),
        pytest.param(
            lambda s, k: (
                k.refuse.update(b="no"),
                s.on("set_status", 1, ConnectionFailedError("gone")),
            ),
            {"b": "no"},
            {"b": "could not disable the new token: gone"},
            id="the disable fails too",
        ),
    ],
)
def test_undelivered_new_keys_are_failed_and_disabled(setup, errors, details) -> None:
    server = new_server()
    sink = FakeSink()
    setup(server, sink)
    report = apply(server, want("a"), want("b"), sink=sink)

    delivered = {r.name: r for r in report.results if r.kind == "deliver"}
    assert {n: r.error for n, r in delivered.items() if r.status == "failed"} == errors
    assert {n: r.detail for n, r in delivered.items() if r.status == "failed"} == details
    disabled = "could not" not in details.get("b", "")
    for name in ("a", "b"):
        want_status = TokenStatus.DISABLED if name in errors and disabled else TokenStatus.ENABLED
        assert server.one(name).status == want_status, name
        assert (derive_key_name(name) in sink.keys) == (name not in errors)


def _deliver_setup() -> tuple[FakeServer, DesiredToken]:
    server = new_server()
    server.add("d")
    return server, want("d")


def test_a_deliver_action_reveals_and_delivers_an_existing_key() -> None:
    server, d = _deliver_setup()
    sink = FakeSink()
    report = apply(server, d, sink=sink, sink_keys={"D": None})
    assert outcome(report) == [("deliver", "d", "ok")]
    assert result(report, "deliver", "d").detail == "D"
    assert sink.keys["D"].reveal() == "sk-" + full_key(1)
    assert server.methods() == ["reveal_keys"] and report.keys_delivered == 1


def test_a_failed_deliver_action_leaves_the_token_enabled() -> None:
    server, d = _deliver_setup()
    sink = FakeSink(refuse={"d": "permission denied"})
    report = apply(server, d, sink=sink, sink_keys={"D": ("zzzz", "zzzz")})
    deliver = result(report, "deliver", "d")
    assert (deliver.status, deliver.error) == ("failed", "permission denied")
    assert server.count("set_status") == 0
    assert server.one("d").status == TokenStatus.ENABLED


def test_a_deliver_action_without_a_sink_is_skipped() -> None:
    server, d = _deliver_setup()
    plan, inventory = plan_for(server, d, sink_keys={"D": None})
    report = Executor(plan, server, inventory).run()
    deliver = result(report, "deliver", "d")
    assert (deliver.status, deliver.error) == ("skipped", "no key sink configured")
    assert server.calls == [] and report.keys_pending == []


# -- updates, the re-enable rule, dropped fields --------------------------------------


def _expired_server() -> FakeServer:
    server = new_server()
    server.add("r", status=TokenStatus.EXPIRED, expired_time=NOW - DAY)
    return server


def test_a_revived_token_is_updated_enabled_and_its_key_delivered_again() -> None:
    server = _expired_server()
    sink = FakeSink()
    report = apply(server, want("r", expires=Expiry("relative", seconds=30 * DAY)), sink=sink)
    assert outcome(report) == [
        ("update", "r", "ok"),
        ("enable", "r", "ok"),
        ("deliver", "r", "ok"),
    ]
    token = server.one("r")
    assert token.status == TokenStatus.ENABLED and token.expired_time == NOW + 20 * DAY
    assert "R" in sink.keys


def test_an_enable_whose_field_update_failed_is_skipped() -> None:
    server = _expired_server()
    server.on("update_token", 1, BusinessError("令牌已过期"))
    sink = FakeSink()
    report = apply(server, want("r", expires=Expiry("relative", seconds=30 * DAY)), sink=sink)
    enable = result(report, "enable", "r")
    assert (enable.status, enable.error) == (
        "skipped",
        "its field update failed; the server would refuse to enable it",
    )
    assert result(report, "update", "r").error == "令牌已过期"
    assert server.count("set_status") == 0 and sink.keys == {}


@pytest.mark.parametrize(
    ("desired", "keeps", "dropped"),
    [
        (want("u", group="vip"), {"group": ""}, "group (sent 'vip', the server kept '')"),
        (
            want("u", models=("gpt-4o",)),
            {"model_limits_enabled": False, "model_limits": ""},
            "models (sent ['gpt-4o'], the server kept [])",
        ),
        (
            want("u", allow_ips=("10.0.0.0/8",)),
            {"allow_ips": ""},
            "allow_ips (sent ['10.0.0.0/8'], the server kept [])",
        ),
        (
            want("u", expires=Expiry("absolute", at=NOW + 5 * DAY)),
            {"expired_time": -1},
            f"expired_time (sent {NOW + 5 * DAY}, the server kept -1)",
        ),
        (
            want("u", group="auto", auto_groups=("vip", "default")),
            {"auto_groups": None},
            "auto_groups (sent ['vip', 'default'], the server kept [])",
        ),
        (
            want("u", group="auto", cross_group_retry=True),
            {"cross_group_retry": False},
            "cross_group_retry (sent True, the server kept False)",
        ),
    ],
    ids=["group", "models", "allow_ips", "expired_time", "auto_groups", "cross_group_retry"],
)
@pytest.mark.parametrize("existing", [True, False], ids=["update", "create"])
def test_a_field_the_server_did_not_keep_fails_the_operation(
    desired: DesiredToken, keeps: dict[str, Any], dropped: str, existing: bool
) -> None:
    server = new_server()
    if existing:
        server.add("u")
    server.keeps = keeps
    report = apply(server, desired, sink=FakeSink())

    op = result(report, "update" if existing else "create", "u")
    assert op.status == "failed"
    assert op.error.startswith("the server did not keep ") and dropped in op.error
    assert op.error.endswith(" (docs/servers.md)")
    assert [r.name for r in report.failed] == ["u"]


def test_a_status_the_server_did_not_keep_fails_the_operation() -> None:
    server = new_server()
    server.add("c", status=TokenStatus.DISABLED)
    server.ignores_status = True
    report = apply(server, want("c"))
    enable = result(report, "enable", "c")
    assert (enable.status, enable.error) == ("failed", "the server kept status 2, not 1")


@pytest.mark.parametrize(
    ("keeps", "status", "error", "name_after"),
    [
        ({}, "ok", "", "new"),
        (
            {"name": "old"},
            "failed",
            "the server did not keep name (sent 'new', the server kept 'old') (docs/servers.md)",
            "old",
        ),
    ],
    ids=["kept", "dropped"],
)
def test_a_rename(keeps: dict[str, Any], status: str, error: str, name_after: str) -> None:
    server = new_server()
    old = server.add("old", group="vip")
    server.keeps = keeps
    plan = Plan(
        actions=[make_action("rename", "old", token_id=old.id, set={"name": "new"})], now=NOW
    )
    report = Executor(plan, server, [old]).run()
    assert [(r.kind, r.status, r.error) for r in report.results] == [("rename", status, error)]
    assert server.tokens[old.id].name == name_after
    assert server.tokens[old.id].group == "vip"  # read-merge-write keeps the rest


def test_a_failed_update_does_not_stop_the_others() -> None:
    server = new_server()
    server.add("a")
    server.add("b")
    server.on("update_token", 1, BusinessError("无权进行此操作"))
    report = apply(server, want("a", group="vip"), want("b", group="vip"))
    assert outcome(report) == [("update", "a", "failed"), ("update", "b", "ok")]
    assert result(report, "update", "a").error == "无权进行此操作"
    assert server.one("b").group == "vip"


# -- rotation -------------------------------------------------------------------------


def _rotating() -> tuple[FakeServer, DesiredToken]:
    server = new_server()
    server.add("r")  # created 10 days ago
    return server, want("r", rotate=RotatePolicy(every=7 * DAY, overlap=DAY))


def test_a_rotation_creates_delivers_then_moves_the_old_token_aside() -> None:
    server, desired = _rotating()
    sink = FakeSink()
    report = apply(server, desired, sink=sink)

    old_name = rotation_name("r", NOW)
    rotate = result(report, "rotate", "r")
    assert (rotate.status, rotate.token_id) == ("ok", 2)
    assert rotate.detail.startswith(f"old token 1 renamed {old_name} (expires ")
    assert server.tokens[1].name == old_name and server.tokens[1].expired_time == NOW + DAY
    assert server.one("r").id == 2 and sink.keys["R"].reveal() == "sk-" + full_key(2)
    # the new token is created under a name of its own, and takes NAME only at the end:
    # two tokens never share the name, and the old one is touched only after delivery
    (created,) = [arg for method, arg in server.calls if method == "create_token"]
    assert created == pending_name("r", NOW)
    order = [m for m, _ in server.calls if m != "list_tokens"]
    assert order == ["create_token", "reveal_keys", "update_token", "update_token"]
    assert [arg for m, arg in server.calls if m == "update_token"] == [1, 2]
    assert report.ok


def test_a_rotation_whose_key_cannot_be_delivered_leaves_the_old_token_untouched() -> None:
    server, desired = _rotating()
    before = server.tokens[1]
    report = apply(server, desired, sink=FakeSink(refuse={"r": "vault said no"}))
    assert server.tokens[1] == before  # name and expiry unchanged, and no PUT on it
    assert [arg for m, arg in server.calls if m == "update_token"] == []
    new = server.one(pending_name("r", NOW))
    assert new.status == TokenStatus.DISABLED
    rotate = result(report, "rotate", "r")
    assert rotate.status == "failed"
    assert "old token was left as it was (r, expiry unchanged)" in rotate.error
    assert f"{new.name} stays disabled" in rotate.error
    deliver = result(report, "deliver", "r")
    assert (deliver.status, deliver.error) == ("failed", "vault said no")
    # the next plan removes the unfinished rotation's token and rotates again
    again, _ = plan_for(server, desired)
    assert [(a.kind, a.name) for a in again.ordered()] == [("rotate", "r"), ("delete", new.name)]
    assert again.of_kind("delete")[0].cleanup


def test_a_rotation_without_a_sink_changes_nothing() -> None:
    server, desired = _rotating()
    report = apply(server, desired)
    rotate = result(report, "rotate", "r")
    assert rotate.status == "failed" and "needs a key sink" in rotate.error
    assert [m for m, _ in server.calls] == []


def test_a_rotation_whose_old_token_cannot_be_renamed_keeps_both_keys_working() -> None:
    server, desired = _rotating()
    server.on("update_token", 1, BusinessError("令牌不存在"))
    sink = FakeSink()
    report = apply(server, desired, sink=sink)
    rotate = result(report, "rotate", "r")
    assert rotate.status == "failed"
    assert "renaming the old token failed (令牌不存在)" in rotate.error
    assert server.one("r").id == 1  # the old one keeps its name, and its key works
    new = server.one(pending_name("r", NOW))
    assert new.status == TokenStatus.ENABLED and sink.keys["R"].reveal() == "sk-" + full_key(2)


def test_a_rotation_whose_rename_the_server_dropped_is_failed() -> None:
    server, desired = _rotating()
    # after the create, every write keeps the name r (a server that ignores renames)
    server.after_create = lambda srv, _: setattr(srv, "keeps", {"name": "r"})
    report = apply(server, desired, sink=FakeSink())
    rotate = result(report, "rotate", "r")
    assert rotate.status == "failed" and "did not keep name" in rotate.error
    assert len(server.named("r")) == 1  # no second 'r': that would be a conflict


@pytest.mark.parametrize(
    ("old_fields", "kept_expiry"),
    [
        pytest.param({"expired_time": NOW - 10 * DAY}, NOW - 10 * DAY, id="expired, listed 1"),
        pytest.param(
            {"expired_time": NOW - 10 * DAY, "status": TokenStatus.EXPIRED},
            NOW - 10 * DAY,
            id="expired, status 3",
        ),
        pytest.param({"expired_time": NOW + 3600}, NOW + 3600, id="expires before the overlap"),
        pytest.param(
            {"unlimited_quota": False, "remain_quota": -50, "used_quota": 550},
            NOW + DAY,
            id="exhausted, overspent",
        ),
    ],
)
def test_rotation_never_moves_an_old_expiry_later(
    old_fields: dict[str, Any], kept_expiry: int
) -> None:
    server = new_server()
    server.add("r", **old_fields)
    desired = want("r", rotate=RotatePolicy(every=7 * DAY, overlap=DAY))
    report = apply(server, desired, sink=FakeSink())
    assert result(report, "rotate", "r").status == "ok"
    old = server.one(rotation_name("r", NOW))
    assert old.expired_time == kept_expiry
    assert old.status == old_fields.get("status", TokenStatus.ENABLED)  # never re-enabled
    if not old.unlimited_quota:
        assert old.remain_quota <= 0  # still spent: a rename revives nothing


# -- limits the server may store without enforcing ----------------------------------


def _cidr_plan(server: FakeServer) -> tuple[Plan, list[ObservedToken]]:
    plan, inventory = plan_for(server, want("net", allow_ips=("10.0.0.0/8",)))
    plan.actions[0] = replace(plan.actions[0], unconfirmed=("allow_ips",))
    return plan, inventory


def test_an_unconfirmed_limit_is_created_expired_then_made_usable() -> None:
    server = new_server()
    sink = FakeSink()
    plan, inventory = _cidr_plan(server)
    born: list[int] = []
    server.after_create = lambda _, token: born.append(token.expired_time)
    report = Executor(plan, server, inventory, deliver=sink.deliver).run()
    assert report.ok and not report.refused
    assert born == [1]  # created already expired: its key worked nowhere meanwhile
    token = server.one("net")
    assert token.expired_time == -1 and token.status == TokenStatus.ENABLED
    assert "created expired" in result(report, "create", "net").detail
    assert [m for m, _ in server.calls if m != "list_tokens"] == [
        "create_token",
        "update_token",  # the file's expiry, once the record shows the limit holds
        "reveal_keys",
    ]
    assert "NET" in sink.keys


def test_a_limit_the_server_does_not_enforce_leaves_the_token_disabled_and_refused() -> None:
    server = new_server()
    server.lacks = {"cross_group_retry"}  # new-api before v0.10.1: CIDR stored, not matched
    sink = FakeSink()
    plan, inventory = _cidr_plan(server)
    report = Executor(plan, server, inventory, deliver=sink.deliver).run()
    token = server.one("net")
    assert token.status == TokenStatus.DISABLED and token.expired_time == 1
    assert sink.keys == {} and server.count("reveal_keys") == 0
    create = result(report, "create", "net")
    assert create.status == "failed" and "matches addresses exactly" in create.error
    assert len(report.refused) == 1 and report.refused[0].startswith("net: allow_ips")


# -- deletes and forgotten keys -------------------------------------------------------


def _deleting(sink: FakeSink) -> tuple[FakeServer, tuple[DesiredToken, ...]]:
    server = new_server()
    for name in ("f1", "f2"):
        token = server.add(name)
        sink.keys[derive_key_name(name)] = _secret(token.id)
    return server, (want("f1", status="absent"), want("f2", status="absent"))


def _secret(token_id: int) -> Secret:
    return Secret("sk-" + full_key(token_id))


@pytest.mark.parametrize(
    ("setup", "statuses", "error", "lists"),
    [
        pytest.param(lambda s: None, ("ok", "ok"), "", 0, id="all deleted"),
        pytest.param(
            lambda s: s.undeletable.add(2),
            ("ok", "failed"),
            "the server deleted 1 of 2",
            1,
            id="short count: the re-list decides",
        ),
        pytest.param(
            lambda s: s.on("delete_tokens", 1, ConnectionFailedError("reset"), commit=True),
            ("ok", "ok"),
            "",
            1,
            id="error after commit: both gone",
        ),
        pytest.param(
            lambda s: s.on("delete_tokens", 1, ConnectionFailedError("reset")),
            ("failed", "failed"),
            "reset",
            1,
            id="error, nothing deleted",
        ),
        pytest.param(
            lambda s: (
                s.on("delete_tokens", 1, ConnectionFailedError("reset"), commit=True),
                s.on("list_tokens", 1, ConnectionFailedError("reset")),
            ),
            ("failed", "failed"),
            "reset",
            1,
            id="error and the re-list fails: not known gone",
        ),
    ],
)
def test_the_delete_phase(setup, statuses, error, lists) -> None:
    sink = FakeSink()
    server, tokens = _deleting(sink)
    setup(server)
    report = apply(server, *tokens, sink=sink)

    assert server.calls[0] == ("delete_tokens", (1, 2))  # one batch
    assert server.count("list_tokens") == lists
    assert [(r.name, r.status) for r in report.results] == list(
        zip(("f1", "f2"), statuses, strict=True)
    )
    assert {r.error for r in report.results if r.status == "failed"} <= {error}
    gone = [derive_key_name(r.name) for r in report.results if r.status == "ok"]
    assert report.keys_forgotten == gone
    assert sorted(sink.keys) == sorted({"F1", "F2"} - set(gone))


def test_forget_gets_the_deleted_keys_print() -> None:
    sink = FakeSink()
    server, tokens = _deleting(sink)
    apply(server, tokens[0], sink=sink)
    assert sink.forgotten == [{"F1": ("0001", "0001")}]


def test_a_sink_that_cannot_forget_is_a_note_not_a_failure() -> None:
    sink = FakeSink(forget_error=OSError("read-only file system"))
    server, tokens = _deleting(sink)
    report = apply(server, *tokens, sink=sink)
    assert report.ok and report.keys_forgotten == []
    assert report.notes == ["the keys of deleted tokens stay in the sink: read-only file system"]


def test_deleted_orphans_have_no_key_to_forget() -> None:
    server = new_server()
    orphan = server.add("orphan")
    plan = Plan(actions=[make_action("delete", "orphan", token_id=orphan.id)], now=NOW)
    sink = FakeSink()
    report = Executor(plan, server, [orphan], deliver=sink.deliver, forget=sink.forget).run()
    assert outcome(report) == [("delete", "orphan", "ok")] and sink.forgotten == []


# -- interruption ---------------------------------------------------------------------


def _interrupting() -> tuple[FakeServer, tuple[DesiredToken, ...]]:
    server = new_server()
    server.add("u1")
    server.add("u2")
    server.add("x")
    tokens = (
        want("a"),
        want("b"),
        want("c"),
        want("u1", group="vip"),
        want("u2", group="vip"),
        want("x", status="disabled"),
    )
    return server, tokens


def test_interrupted_while_creating() -> None:
    server, tokens = _interrupting()
    server.on("create_token", 2, KeyboardInterrupt())
    sink = FakeSink()
    report = apply(server, *tokens, sink=sink)

    assert report.interrupted and not report.ok
    assert outcome(report) == [
        ("create", "a", "ok"),
        ("create", "b", "failed"),
        ("create", "c", "not-run"),
        ("update", "u1", "not-run"),
        ("update", "u2", "not-run"),
        ("disable", "x", "not-run"),
    ]
    assert result(report, "create", "a").detail == (
        "created; interrupted before its key was delivered"
    )
    assert result(report, "create", "b").error == (
        "interrupted while creating: the server may have created it"
    )
    assert report.keys_undelivered == ["a", "b"] and report.keys_pending == []
    assert server.methods() == ["create_token", "create_token"]


def test_interrupted_while_creating_after_an_ambiguous_create() -> None:
    server, tokens = _interrupting()
    server.on("create_token", 1, ambiguous(), commit=True)
    server.on("create_token", 2, KeyboardInterrupt())
    report = apply(server, *tokens)  # no sink: the keys are pending
    a = result(report, "create", "a")
    assert (a.status, a.error) == ("failed", "outcome unknown; interrupted before re-listing")
    assert report.keys_pending == ["a", "b"]


@pytest.mark.parametrize(
    ("method", "nth", "expected"),
    [
        (
            "update_token",
            2,
            [("update", "u1", "ok"), ("update", "u2", "not-run"), ("disable", "x", "not-run")],
        ),
        (
            "set_status",
            1,
            [("update", "u1", "ok"), ("update", "u2", "ok"), ("disable", "x", "not-run")],
        ),
    ],
)
def test_interrupted_later_leaves_the_rest_not_run(
    method: str, nth: int, expected: list[tuple[str, str, str]]
) -> None:
    server, tokens = _interrupting()
    server.on(method, nth, KeyboardInterrupt())
    sink = FakeSink()
    report = apply(server, *tokens[3:], sink=sink)
    assert report.interrupted and outcome(report) == expected


def test_interrupted_during_the_relist_reports_answered_creates() -> None:
    server, tokens = _interrupting()
    server.on("list_tokens", 1, KeyboardInterrupt())
    report = apply(server, *tokens[:3], sink=FakeSink())
    assert report.interrupted
    assert [r.status for r in report.results] == ["ok", "ok", "ok"]
    assert report.keys_undelivered == ["a", "b", "c"]


def test_interrupted_during_delivery_names_the_undelivered_keys() -> None:
    server, tokens = _interrupting()
    server.on("reveal_keys", 1, KeyboardInterrupt())
    report = apply(server, *tokens[:2], sink=FakeSink())
    assert report.interrupted
    assert report.keys_undelivered == ["a", "b"]


# -- parallel creates, progress -------------------------------------------------------


def _many() -> tuple[DesiredToken, ...]:
    return (*(want(f"w{i}") for i in range(9)), want("z", status="disabled"))


def _report_shape(report: Report) -> list[tuple[str, str, str, str, str]]:
    return [(r.kind, r.name, r.status, r.error, r.detail) for r in report.results]


def test_parallel_creates_give_the_same_report_as_serial_ones() -> None:
    reports = {}
    for width in (1, 4):
        server = new_server()
        server.add("existing")
        sink = FakeSink()
        report = apply(server, *_many(), sink=sink, create_concurrency=width)
        reports[width] = report
        assert report.ok and server.count("list_tokens") == 1
        for r in report.results:  # each reported id is the token of that name
            assert server.tokens[r.token_id].name == r.name
            if r.kind == "deliver":
                assert sink.keys[derive_key_name(r.name)].reveal() == "sk-" + full_key(r.token_id)
        assert sorted(t.id for t in server.tokens.values()) == list(range(1, 12))
    assert _report_shape(reports[1]) == _report_shape(reports[4])


def test_parallel_creates_at_the_cap_create_exactly_what_fits() -> None:
    server = FakeServer(next_id=1, cap=5)
    server.add("x")
    server.add("y")
    report = apply(server, *(want(f"w{i}") for i in range(20)), create_concurrency=4)
    creates = [r for r in report.results if r.kind == "create"]
    ok = [r for r in creates if r.status == "ok"]
    assert len(ok) == 3 and len(server.tokens) == 5
    assert all(server.tokens[r.token_id].name == r.name for r in ok)
    assert {r.status for r in creates if r not in ok} <= {"failed", "skipped"}
    # four in flight: none starts once the cap refused one; at most those in flight are sent
    assert server.count("create_token") <= 3 + 4
    assert len([r for r in creates if r.status == "skipped"]) >= 20 - 3 - 4
    assert len(report.notes) == 1 and "caps this account at 5 tokens" in report.notes[0]


def test_progress_hears_every_phase_and_advance() -> None:
    server = _mixed_server()
    progress = Recorder()
    sink = FakeSink()
    apply(server, *_MIXED, sink=sink, sink_keys={"D": None}, progress=progress)
    assert progress.events == [
        ("phase", "creating", "1"),
        ("advance", "a"),
        ("phase", "re-listing", "1"),
        ("advance", "the token list"),
        ("phase", "delivering keys", "1"),
        ("advance", "a"),
        ("phase", "updating", "2"),
        ("advance", "b"),
        ("advance", "c"),
        ("phase", "delivering keys", "2"),
        ("advance", "c"),
        ("advance", "d"),
        ("phase", "disabling", "1"),
        ("advance", "e"),
        ("phase", "deleting", "1"),
        ("advance", "f"),
    ]


def test_many_new_keys_are_revealed_in_one_client_call() -> None:
    """The client cuts ids into batches and reveals later ones in parallel: apply hands it
    every id at once (a cut of its own would send the batches one after another)."""
    server, sink = new_server(), FakeSink()
    names = [f"t{i:03d}" for i in range(250)]
    report = apply(server, *(want(n) for n in names), sink=sink)
    assert report.keys_delivered == 250
    reveals = [ids for method, ids in server.calls if method == "reveal_keys"]
    assert len(reveals) == 1 and sorted(reveals[0]) == sorted(t.id for t in server.tokens.values())
    assert sink.keys[derive_key_name("t249")].reveal() == "sk-" + full_key(server.one("t249").id)
