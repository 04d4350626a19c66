"""Dashboard auth per generation: bearer (2026-08), legacy header (2025-10, 2026-07), one-api."""

from __future__ import annotations

import httpx
import pytest

from provisioner.sandbox import Sandbox

AUTH_VERSION = "864b7076dbcd0a3c01b5520316720ebf"


def get(sb: Sandbox, path: str = "/api/token/", **headers: str) -> httpx.Response:
    return httpx.get(sb.url + path, headers=headers, timeout=5, verify=False)


def test_credential_shape(sb: Sandbox) -> None:
    import base64

    assert len(sb.credential) == 32
    assert len(base64.b64decode(sb.credential)) == 24
    assert sb.user_id == 1


@pytest.mark.parametrize("scheme", ["Bearer ", "bearer ", "BEARER ", ""])
def test_bearer_accepts_scheme_case_insensitive_or_raw(sb: Sandbox, scheme: str) -> None:
    response = get(sb, Authorization=scheme + sb.credential)
    assert response.status_code == 200
    assert response.json()["success"] is True
    assert response.headers["Auth-Version"] == AUTH_VERSION


def test_bearer_ignores_new_api_user(sb: Sandbox) -> None:
    for header in ("2", "abc", "Bearer 1"):
        response = get(sb, Authorization=f"Bearer {sb.credential}", **{"New-Api-User": header})
        assert response.json()["success"] is True


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer nope", "Basic " + "x" * 32, "Bearer a b", "sk-" + "a" * 48]
)
def test_bearer_failures_are_coded_401(sb: Sandbox, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = get(sb, **headers)
    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "message": "Unauthorized, invalid access token",
        "code": "AUTH_UNAUTHORIZED",
    }
    assert "Auth-Version" not in response.headers


def test_status_needs_no_auth_and_has_no_fingerprint(sb: Sandbox) -> None:
    response = get(sb, "/api/status")
    assert response.status_code == 200 and "Auth-Version" not in response.headers


def test_other_users_credential_sees_only_its_tokens(sb: Sandbox) -> None:
    other = sb.store.user(2)
    assert other is not None
    data = get(sb, Authorization=other["access_token"]).json()["data"]
    assert data["total"] == 3 and all(t["user_id"] == 2 for t in data["items"])


@pytest.fixture
def legacy(make_sandbox) -> Sandbox:
    return make_sandbox(auth="legacy")  # the deprecated alias: new-api-2026-07


def test_deprecated_switches_pick_a_profile(make_sandbox, tmp_path) -> None:
    picked = {
        (None, None): "new-api-2026-08",
        ("bearer", "page"): "new-api-2026-08",
        ("legacy", None): "new-api-2026-07",
        ("legacy", "array"): "new-api-2025-05",
        (None, "array"): "new-api-2025-05",
    }
    for (auth, shape), name in picked.items():
        sb = Sandbox(":memory:", auth=auth, list_shape=shape)
        assert sb.profile.name == name
        sb.stop()
    with pytest.raises(ValueError, match="either profile= or"):
        Sandbox(tmp_path / "x.db", profile="new-api-2025-10", auth="legacy")
    with pytest.raises(ValueError, match="unknown sandbox profile 'nope'"):
        Sandbox(tmp_path / "y.db", profile="nope")


def test_legacy_happy_path_masked_keys(legacy: Sandbox) -> None:
    legacy.seed(2)
    for authorization in (f"Bearer {legacy.credential}", legacy.credential):
        response = get(legacy, Authorization=authorization, **{"New-Api-User": "1"})
        assert response.status_code == 200
        assert response.headers["Auth-Version"] == AUTH_VERSION
        items = response.json()["data"]["items"]
        assert all("**********" in t["key"] for t in items)
        assert list(items[0])[-2:] == ["cross_group_retry", "DeletedAt"]  # no auto_groups


def test_2025_10_full_keys_chinese_only_no_fingerprint(make_sandbox) -> None:
    sb = make_sandbox(profile="new-api-2025-10")
    sb.seed(2)
    headers = {"Authorization": sb.credential, "New-Api-User": "1", "Accept-Language": "en"}
    response = get(sb, **headers)
    assert response.status_code == 200 and "Auth-Version" not in response.headers
    items = response.json()["data"]["items"]
    keys = {r["id"]: r["key"] for r in sb.rows()}
    assert [t["key"] for t in items] == [keys[t["id"]] for t in items]
    assert list(items[0])[-2:] == ["group", "DeletedAt"]  # no cross_group_retry yet
    missing = get(sb, Authorization=sb.credential, **{"Accept-Language": "en"})
    assert missing.status_code == 401
    assert missing.json()["message"] == "无权进行此操作，未提供 New-Api-User"


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "无权进行此操作，未登录且未提供 access token"),
        ({"Authorization": "Bearer nope"}, 200, "无权进行此操作，access token 无效"),
        ({"Authorization": "bearer {tok}"}, 200, "无权进行此操作，access token 无效"),
    ],
)
def test_one_api_failures(make_sandbox, headers: dict[str, str], status: int, message: str) -> None:
    sb = make_sandbox(profile="one-api-2025-02")
    headers = {k: v.format(tok=sb.credential) for k, v in headers.items()}
    response = get(sb, **headers, **{"Accept-Language": "en-US"})
    assert response.status_code == status
    assert list(response.json().items()) == [("message", message), ("success", False)]


def test_one_api_needs_no_user_header(make_sandbox) -> None:
    sb = make_sandbox(profile="one-api-2025-02")
    for authorization in (sb.credential, f"Bearer {sb.credential}"):
        response = get(sb, Authorization=authorization, **{"New-Api-User": "2"})
        assert response.status_code == 200 and response.json()["data"] == []
        assert "Auth-Version" not in response.headers


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "Unauthorized, not logged in and no access token provided"),
        (
            {"Authorization": "Bearer nope", "New-Api-User": "1"},
            200,
            "Unauthorized, invalid access token",
        ),
        (
            {"Authorization": "bearer {tok}", "New-Api-User": "1"},
            200,
            "Unauthorized, invalid access token",
        ),  # only the exact "Bearer " is stripped
        ({"Authorization": "{tok}"}, 401, "Unauthorized, New-Api-User header not provided"),
        (
            {"Authorization": "{tok}", "New-Api-User": "Bearer 1"},
            401,
            "Unauthorized, New-Api-User header format error",
        ),
        (
            {"Authorization": "{tok}", "New-Api-User": "2"},
            401,
            "Unauthorized, New-Api-User does not match logged in user",
        ),
    ],
)
def test_legacy_failures(
    legacy: Sandbox, headers: dict[str, str], status: int, message: str
) -> None:
    headers = {k: v.format(tok=legacy.credential) for k, v in headers.items()}
    response = get(legacy, **headers)
    assert response.status_code == status
    assert response.json() == {"success": False, "message": message}


def test_legacy_chinese_messages(legacy: Sandbox) -> None:
    response = get(legacy, Authorization="nope", **{"Accept-Language": "zh-CN"})
    assert response.json()["message"] == "无权进行此操作，access token 无效"
    assert get(legacy, **{"Accept-Language": "zh"}).json()["message"] == (
        "无权进行此操作，未登录且未提供 access token"
    )


def test_2025_10_has_no_reveal_or_auto_groups(make_sandbox) -> None:
    legacy = make_sandbox(profile="new-api-2025-10")
    legacy.seed(1)
    headers = {"Authorization": legacy.credential, "New-Api-User": "1"}
    with httpx.Client(verify=False, base_url=legacy.url, headers=headers) as c:
        token_id = legacy.rows()[-1]["id"]
        reveal = c.post(f"/api/token/{token_id}/key")
        assert reveal.status_code == 404
        assert reveal.json()["error"]["message"] == f"Invalid URL (POST /api/token/{token_id}/key)"
        assert c.post("/api/token/batch/keys", json={"ids": [token_id]}).status_code == 404
        auto = c.get("/api/token/auto-groups")
        assert auto.status_code == 200
        assert auto.json() == {
            "success": False,
            "message": 'strconv.Atoi: parsing "auto-groups": invalid syntax',
        }
        # other routes behave as in the bearer generation
        assert c.post("/api/token/batch", json={"ids": [token_id]}).json()["data"] == 1
