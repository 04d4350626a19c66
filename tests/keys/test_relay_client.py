"""The relay client: what it sends and reads, and where the key never goes (docs/keys-in-use.md)."""

from __future__ import annotations

import httpx

from provisioner.newapi.relay import RelayClient
from provisioner.secret import Secret

KEY = "Zq" * 24


def client(handler) -> RelayClient:  # type: ignore[no-untyped-def]
    return RelayClient("https://relay.example.com/", transport=httpx.MockTransport(handler))


def test_models_sends_the_key_as_an_application_would() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"object": "list", "data": [{"id": "a"}, {"id": "b"}]})

    answer = client(handler).models(Secret(KEY))
    assert (answer.status, answer.models, answer.failure) == (200, 2, "")
    assert seen[0].url == "https://relay.example.com/v1/models"
    assert seen[0].headers["authorization"] == f"Bearer sk-{KEY}"


def test_a_refusal_is_read_without_its_request_id_and_never_echoes_the_key() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        error = {"code": "", "message": f"bad sk-{KEY} (request id: 2026ABC)", "type": "x"}
        return httpx.Response(401, json={"error": error})

    answer = client(handler).models(Secret("sk-" + KEY))
    assert answer.status == 401
    assert KEY not in answer.message and "request id" not in answer.message


def test_a_redirect_to_another_host_is_not_followed() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(302, headers={"Location": "https://evil.example.net/v1/models"})

    answer = client(handler).models(Secret(KEY))
    assert hosts == ["relay.example.com"]
    assert "not sent there" in answer.failure


def test_a_same_origin_redirect_is_followed_once() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path == "/v1/models":
            return httpx.Response(301, headers={"Location": "/v1/models/"})
        return httpx.Response(200, json={"data": []})

    answer = client(handler).models(Secret(KEY))
    assert paths == ["/v1/models", "/v1/models/"] and answer.models == 0


def test_chat_asks_for_one_token_and_reads_the_usage() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(200, json={"choices": [], "usage": {"total_tokens": 3}})

    answer = client(handler).chat(Secret(KEY), "gpt-4o-mini")
    assert answer.usage_tokens == 3
    assert b'"max_tokens":1' in bodies[0].replace(b" ", b"")


def test_no_answer_is_a_failure_not_a_refusal() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    answer = client(handler).models(Secret(KEY))
    assert answer.status == 0 and "cannot connect" in answer.failure


def test_an_html_page_is_not_a_model_list() -> None:
    answer = client(lambda r: httpx.Response(200, text="<html>hi</html>")).models(Secret(KEY))
    assert answer.failure.startswith("HTTP 200")
