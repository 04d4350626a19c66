"""The relay side a key holder sees: ``GET /v1/models`` and ``POST /v1/chat/completions``.

Key checks, refusals and lazy status flips follow each generation's recording
(steps "relay models: ..." and "list after relay calls";
docs/server-contract.md#relay-side). A chat call to a model that a sandbox
channel serves answers a canned completion and spends quota, so exhaustion
can be played end to end. ``Sandbox.consume`` and ``Sandbox.relay_auth`` run
the same code.
"""

from __future__ import annotations

import ipaddress
import math
import secrets
import string
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from provisioner.sandbox import messages as msg
from provisioner.sandbox.messages import Lang
from provisioner.sandbox.profiles import Profile
from provisioner.sandbox.store import Store
from provisioner.sandbox.wire import Request, Response, parse_json

MODEL_CREATED = 1626777600  # the "created" every recorded server gives a model
MODEL_VENDORS = {
    "gpt-4o-mini": "openai",
    "gpt-4o": "openai",
    "claude-3-5-haiku": "anthropic",
    "claude-3-5-sonnet": "anthropic",
    "deepseek-chat": "deepseek",
}
# one-api's permission object is a constant of its source (step "relay models: models key").
ONE_API_PERMISSION = {
    "id": "modelperm-LwHkVFn8AcMItP432fKKDIKJ",
    "object": "model_permission",
    "created": MODEL_CREATED,
    "allow_create_engine": True,
    "allow_sampling": True,
    "allow_logprobs": True,
    "allow_search_indices": False,
    "allow_view": True,
    "allow_fine_tuning": False,
    "organization": "*",
    "group": None,
    "is_blocking": False,
}
CANNED_REPLY = "This is a canned reply from the provisioner sandbox; no model was called."
QUOTA_PER_TOKEN = 100  # quota units a chat call spends per usage token ($0.0002 at 500000/USD)
DEFAULT_COMPLETION = 16


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    code: str = ""


class Relay:
    """Relay key checks and spending for one profile; the caller holds the state lock."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], float],
        profile: Profile,
        *,
        channels: Iterable[str],
        redis: bool,
        groups: Collection[str] = (),
    ) -> None:
        self.store = store
        self.clock = clock
        self.profile = profile
        self.channels = tuple(dict.fromkeys(channels))
        self.redis = redis
        self.groups = frozenset(groups)  # the groups the user may use (token groups)

    def now(self) -> int:
        return int(self.clock())

    # -- the key --

    @staticmethod
    def key_from(authorization: str) -> str:
        """The stored key named by an Authorization header: no Bearer, no sk-, no -channel."""
        for prefix in ("Bearer ", "bearer "):
            authorization = authorization.removeprefix(prefix)
        return authorization.removeprefix("sk-").split("-")[0]

    def check(self, key: str, client_ip: str, lang: Lang) -> tuple[dict[str, Any], Refusal | None]:
        """The token behind ``key`` and why it is refused, if it is; flips statuses lazily."""
        token = self.store.token_by_key(key) if key else None
        if token is None:
            reason = msg.RELAY_UNKNOWN_KEY if key else msg.RELAY_NO_KEY
            return {}, Refusal(401, self._why(reason, lang))
        refusal = self._status_refusal(token, key, lang)
        if refusal is not None:
            return token, refusal
        refusal = self._ip_refusal(token, client_ip)
        if refusal is not None:
            return token, refusal
        group = "" if self.profile.one_api_fields else token.get("group") or ""
        if group and self.groups and group not in self.groups:
            # A token group the user may not use fails at relay time, never on write
            # (docs/server-contract.md#groups).
            return token, Refusal(403, msg.RELAY_GROUP_DENIED.format(group=group))
        user = self.store.user(token["user_id"])
        if user is None or user["status"] != 1:
            return token, Refusal(403, msg.RELAY_USER_BANNED)
        return token, None

    def _why(self, reason: str, lang: Lang) -> str:
        # 2026-07 and later say "Invalid token" whatever the reason (steps "relay models: ...").
        return reason if self.profile.relay_reasons else msg.message("relay.invalid_token", lang)

    def _status_refusal(self, token: dict[str, Any], key: str, lang: Lang) -> Refusal | None:
        one_api = self.profile.one_api_fields
        head, tail = key[:3], key[-3:]
        if token["status"] == 4:
            marked = (
                msg.RELAY_EXHAUSTED_MARKED_ONE_API.format(name=token["name"], id=token["id"])
                if one_api
                else msg.RELAY_EXHAUSTED_MARKED_NEW_API.format(head=head, tail=tail)
            )
            return Refusal(401, self._why(marked, lang))
        if token["status"] == 3:
            return Refusal(401, self._why(msg.RELAY_EXPIRED, lang))
        if token["status"] != 1:
            return Refusal(401, self._why(msg.RELAY_DISABLED, lang))
        now = self.now()
        if token["expired_time"] != -1 and token["expired_time"] < now:
            self._mark(token, 3)
            return Refusal(401, self._why(msg.RELAY_EXPIRED, lang))
        if not token["unlimited_quota"] and token["remain_quota"] <= 0:
            self._mark(token, 4)
            found = (
                msg.RELAY_EXHAUSTED
                if one_api
                else msg.RELAY_EXHAUSTED_NEW_API.format(
                    head=head, tail=tail, remain=token["remain_quota"]
                )
            )
            return Refusal(401, self._why(found, lang))
        return None

    def _mark(self, token: dict[str, Any], status: int) -> None:
        if not self.redis:  # with Redis the servers leave the stored status alone
            self.store.update_token(token["id"], {"status": status})

    def _ip_refusal(self, token: dict[str, Any], client_ip: str) -> Refusal | None:
        if self.profile.one_api_fields:
            subnet = token["subnet"] or ""
            blocks = [entry for entry in _split(subnet, ",") if "/" in entry]  # CIDR only
            if subnet and not _in_any(client_ip, blocks, cidr=True):
                return Refusal(403, msg.RELAY_IP_DENIED_ONE_API.format(subnet=subnet, ip=client_ip))
            return None
        entries = _allow_ips(token["allow_ips"] or "", cidr=self.profile.ip_cidr)
        if entries and not _in_any(client_ip, entries, cidr=self.profile.ip_cidr):
            return Refusal(403, msg.RELAY_IP_DENIED, self.profile.ip_denied_code)
        return None

    # -- spending --

    def spend(self, token: dict[str, Any], quota: int) -> None:
        """Charge a relay call to the token and its user (docs/sandbox.md#the-relay-side)."""
        unlimited = token["unlimited_quota"]
        changes: dict[str, Any] = {}
        if not unlimited or self.profile.charges_unlimited:
            remain = token["remain_quota"] - quota
            changes = {
                "remain_quota": remain,
                "used_quota": token["used_quota"] + quota,
                "accessed_time": self.now(),
            }
            # Servers mark exhaustion at the key's next call; the sandbox at once.
            if not unlimited and remain <= 0 and not self.redis:
                changes["status"] = 4
        self.store.update_token(token["id"], changes)
        self.store.charge_user(token["user_id"], quota)

    # -- the routes --

    def list_models(self, request: Request, lang: Lang) -> Response:
        token, refusal = self.check(self._key(request), request.client_ip, lang)
        if refusal is not None:
            return self.error(refusal)
        if self.profile.one_api_fields:
            names = _split(token["models"] or "", ",") or list(self.channels)
            data = [self._one_api_model(name) for name in dict.fromkeys(names)]
            return Response.json({"data": data, "object": "list"})
        if token["model_limits_enabled"]:
            names = _split(token["model_limits"], ",")
            if self.profile.limited_models_need_channel:
                names = [n for n in names if n in self.channels]
        else:
            names = list(self.channels)
        data = [self._new_api_model(name) for name in dict.fromkeys(names)]
        return Response.json({"data": data, "object": "list", "success": True})

    def chat(self, request: Request, lang: Lang) -> Response:
        token, refusal = self.check(self._key(request), request.client_ip, lang)
        if refusal is not None:
            return self.error(refusal)
        body, _ = parse_json(request.body)
        body = body if isinstance(body, dict) else {}
        model = str(body.get("model") or "")
        refusal = self._model_refusal(token, model)
        if refusal is not None:
            return self.error(refusal)
        if model not in self.channels:
            return self.error(self._no_channel(token, model, lang))
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        prompt = sum(len(str(m.get("content") or "")) for m in messages)
        words = CANNED_REPLY.split()
        wanted = body.get("max_tokens")
        limit = wanted if isinstance(wanted, int) and wanted > 0 else DEFAULT_COMPLETION
        completion = min(len(words), limit)
        usage = {
            "prompt_tokens": max(1, math.ceil(prompt / 4)),
            "completion_tokens": completion,
        }
        usage["total_tokens"] = usage["prompt_tokens"] + completion
        self.spend(token, usage["total_tokens"] * QUOTA_PER_TOKEN)
        request_id = self.request_id()
        answer = {
            "id": f"chatcmpl-{request_id}",
            "object": "chat.completion",
            "created": self.now(),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": " ".join(words[:completion])},
                    "finish_reason": "stop" if completion == len(words) else "length",
                }
            ],
            "usage": usage,
        }
        response = Response.json(answer)
        response.headers.append(("X-Oneapi-Request-Id", request_id))
        return response

    def _model_refusal(self, token: dict[str, Any], model: str) -> Refusal | None:
        if self.profile.one_api_fields:
            allowed = _split(token["models"] or "", ",")
            if allowed and model not in allowed:
                return Refusal(403, msg.RELAY_MODEL_DENIED_ONE_API.format(model=model))
            return None
        if token["model_limits_enabled"] and model not in _split(token["model_limits"], ","):
            return Refusal(403, msg.RELAY_MODEL_DENIED.format(model=model))
        return None

    def _no_channel(self, token: dict[str, Any], model: str, lang: Lang) -> Refusal:
        user = self.store.user(token["user_id"]) or {}
        group = token.get("group") or user.get("group") or "default"
        if self.profile.one_api_fields:
            return Refusal(503, msg.RELAY_NO_CHANNEL_ONE_API.format(group=group, model=model))
        if not self.profile.i18n:
            lang = "zh"
        text = msg.message("relay.no_channel", lang, group=group, model=model)
        return Refusal(503, text, "model_not_found")

    def _key(self, request: Request) -> str:
        return self.key_from(request.headers.get("authorization", ""))

    def _one_api_model(self, name: str) -> dict[str, Any]:
        vendor = MODEL_VENDORS.get(name)
        return {
            "id": name,
            "object": "model",
            "created": MODEL_CREATED,
            "owned_by": vendor or "custom",
            "permission": [dict(ONE_API_PERMISSION)] if vendor else None,
            "root": name,
            "parent": None,
        }

    def _new_api_model(self, name: str) -> dict[str, Any]:
        served = name in self.channels
        owner = MODEL_VENDORS.get(name, "custom")
        if not served and self.profile.unserved_owner is not None:
            owner = self.profile.unserved_owner
        return {
            "id": name,
            "object": "model",
            "created": MODEL_CREATED,
            "owned_by": owner,
            "supported_endpoint_types": ["openai"] if served else [],
        }

    # -- errors --

    def request_id(self) -> str:
        """A time stamp and random tail, as the servers make them (any [0-9A-Za-z])."""
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(self.clock()))
        alphabet = string.digits
        if not self.profile.one_api_fields:
            alphabet += string.ascii_letters
        return stamp + "".join(secrets.choice(alphabet) for _ in range(8))

    def error(self, refusal: Refusal) -> Response:
        request_id = self.request_id()
        text = f"{refusal.message} (request id: {request_id})"
        if self.profile.one_api_fields:
            error: dict[str, Any] = {"message": text, "type": "one_api_error"}
        else:  # a gin.H: keys come out sorted
            error = {"code": refusal.code, "message": text, "type": "new_api_error"}
        response = Response.json({"error": error}, refusal.status)
        response.headers.append(("X-Oneapi-Request-Id", request_id))
        return response


def _split(text: str, separator: str) -> list[str]:
    return [part.strip() for part in text.split(separator) if part.strip()]


def _allow_ips(text: str, *, cidr: bool) -> list[str]:
    """new-api's allow_ips: spaces gone, one entry a line, commas inside a line dropped."""
    entries = []
    for line in text.replace(" ", "").split("\n"):
        entry = line.strip().replace(",", "")
        try:
            if cidr and "/" in entry:
                ipaddress.ip_network(entry, strict=False)
            else:
                ipaddress.ip_address(entry)
        except ValueError:
            continue  # not an address (or not a CIDR block where those count): skipped
        entries.append(entry)
    return entries


def _in_any(client_ip: str, entries: list[str], *, cidr: bool) -> bool:
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    for entry in entries:
        try:
            if "/" in entry:
                if cidr and address in ipaddress.ip_network(entry, strict=False):
                    return True
            elif address == ipaddress.ip_address(entry):
                return True
        except ValueError:
            continue
    return False
