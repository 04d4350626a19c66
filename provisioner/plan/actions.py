"""What a plan does, one small class per change kind (as octoDNS's ``record/change.py``).

Each action names the token it touches and carries typed desired settings, never a
request body: :class:`TokenFields` for a token to create (:class:`Create`, the new token
of a :class:`Rotate`), :class:`FieldUpdates` for the fields an :class:`Update` or a
:class:`Rename` writes. The client turns them into the server's bodies
(:mod:`provisioner.newapi.bodies`). Action kinds are executed in :data:`ORDER`
(docs/reconcile.md#order-of-apply).

Two serialised forms: :meth:`Action.to_json` is the plan document's (``plan --output
json``, docs/json.md: ``set`` in the contract's field names, unchanged since format 1),
which :meth:`Action.from_json` reads back (the GitHub Action reads documents, and saved
plans of format 1 hold it); :meth:`Action.to_saved` is the typed form saved plans write
since format 2 (:meth:`Action.from_saved`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Literal

from provisioner.observed import ObservedToken, split_ips, split_models

ActionKind = Literal[
    "create", "rotate", "rename", "update", "enable", "deliver", "disable", "delete"
]
ORDER: tuple[ActionKind, ...] = (
    "rotate",
    "create",
    "rename",
    "update",
    "enable",
    "deliver",
    "disable",
    "delete",
)


@dataclass(frozen=True)
class FieldChange:
    """One field as people read it: ``budget: 10000000 -> 12500000``."""

    field: str
    before: Any
    after: Any


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class TokenFields:
    """A whole token's settings in the contract's words (docs/server-contract.md#token-record):
    what a create asks for, and what a record should hold after a write.

    ``carried`` are fields the tool does not manage, kept as they were read: a clone
    rotation copies them to the new token, as a read-merge-write update keeps them.
    """

    name: str
    expired_time: int = -1
    remain_quota: int = 0
    unlimited_quota: bool = True
    model_limits_enabled: bool = False
    model_limits: tuple[str, ...] = ()
    allow_ips: tuple[str, ...] = ()
    group: str = ""
    cross_group_retry: bool = False
    auto_groups: tuple[str, ...] | None = None  # group auto only
    carried: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, token: ObservedToken) -> TokenFields:
        """The settings ``token`` has on the server (a clone's, or the base of an update)."""
        auto = token.group == "auto"
        carried = tuple(
            (key, value)
            for key, value in token.write_fields().items()
            if key not in _CONTRACT_FIELDS and key != "id"
        )
        return cls(
            name=token.name,
            expired_time=token.expired_time,
            remain_quota=token.remain_quota,
            unlimited_quota=token.unlimited_quota,
            model_limits_enabled=token.model_limits_enabled,
            model_limits=split_models(token.model_limits),
            allow_ips=token.ips,
            group=token.group,
            cross_group_retry=token.cross_group_retry if auto else False,
            auto_groups=tuple(token.auto_groups or ()) if auto else None,
            carried=carried,
        )

    def to_json(self) -> dict[str, Any]:
        """The plan document's ``set`` of a create: the POST body's fields, in its order."""
        data: dict[str, Any] = dict(self.carried)
        data |= {
            "name": self.name,
            "expired_time": self.expired_time,
            "remain_quota": self.remain_quota,
            "unlimited_quota": self.unlimited_quota,
            "model_limits_enabled": self.model_limits_enabled,
            "model_limits": ",".join(self.model_limits),
            # newline-separated: docs/server-contract.md#token-record
            "allow_ips": "\n".join(self.allow_ips),
            "group": self.group,
            "cross_group_retry": self.cross_group_retry,
        }
        if self.auto_groups is not None:
            data["auto_groups"] = list(self.auto_groups)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TokenFields:
        """Read :meth:`to_json`'s form back (plan documents, saved plans of format 1)."""
        auto_groups = data.get("auto_groups")
        return cls(
            name=str(data["name"]),
            expired_time=int(data.get("expired_time", -1)),
            remain_quota=int(data.get("remain_quota", 0)),
            unlimited_quota=bool(data.get("unlimited_quota", False)),
            model_limits_enabled=bool(data.get("model_limits_enabled", False)),
            model_limits=split_models(str(data.get("model_limits") or "")),
            allow_ips=split_ips(data.get("allow_ips")),
            group=str(data.get("group") or ""),
            cross_group_retry=bool(data.get("cross_group_retry", False)),
            auto_groups=None if auto_groups is None else tuple(str(g) for g in auto_groups),
            carried=tuple((k, v) for k, v in data.items() if k not in _CONTRACT_FIELDS),
        )

    def to_saved(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "carried"}
        for key in ("model_limits", "allow_ips", "auto_groups"):
            data[key] = None if data[key] is None else list(data[key])
        data["carried"] = dict(self.carried)
        return data

    @classmethod
    def from_saved(cls, data: Mapping[str, Any]) -> TokenFields:
        auto_groups = data["auto_groups"]
        return cls(
            name=str(data["name"]),
            expired_time=int(data["expired_time"]),
            remain_quota=int(data["remain_quota"]),
            unlimited_quota=bool(data["unlimited_quota"]),
            model_limits_enabled=bool(data["model_limits_enabled"]),
            model_limits=tuple(str(m) for m in data["model_limits"]),
            allow_ips=tuple(str(ip) for ip in data["allow_ips"]),
            group=str(data["group"]),
            cross_group_retry=bool(data["cross_group_retry"]),
            auto_groups=None if auto_groups is None else tuple(str(g) for g in auto_groups),
            carried=tuple(dict(data.get("carried") or {}).items()),
        )


_CONTRACT_FIELDS = frozenset(
    f.name for f in fields(TokenFields) if f.name != "carried"
) | frozenset({"id"})


@dataclass(frozen=True)
class FieldUpdates:
    """The fields an update writes; ``None`` leaves a field as the server has it.

    ``budget`` is a total in quota units, not a counter: the write gives the token
    ``remain_quota = max(0, budget - used_quota)`` against its record at that moment,
    so traffic between plan and apply is accounted for (docs/reconcile.md). ``models``
    are the allowed models (``()``: every model).
    """

    expired_time: int | None = None
    unlimited_quota: bool | None = None
    budget: int | None = None
    group: str | None = None
    auto_groups: tuple[str, ...] | None = None
    cross_group_retry: bool | None = None
    models: tuple[str, ...] | None = None
    allow_ips: tuple[str, ...] | None = None
    name: str | None = None

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))

    def applied_to(self, token: ObservedToken) -> TokenFields:
        """The settings ``token`` has once these are written (what the record should show)."""
        now = TokenFields.of(token)
        remain = now.remain_quota
        if self.budget is not None:
            remain = max(0, self.budget - token.used_quota)
        group = now.group if self.group is None else self.group
        auto = group == "auto"
        auto_groups = self.auto_groups if self.auto_groups is not None else now.auto_groups
        retry = now.cross_group_retry if self.cross_group_retry is None else self.cross_group_retry
        return replace(
            now,
            name=now.name if self.name is None else self.name,
            expired_time=now.expired_time if self.expired_time is None else self.expired_time,
            remain_quota=remain,
            unlimited_quota=(
                now.unlimited_quota if self.unlimited_quota is None else self.unlimited_quota
            ),
            model_limits_enabled=(
                now.model_limits_enabled if self.models is None else bool(self.models)
            ),
            model_limits=now.model_limits if self.models is None else self.models,
            allow_ips=now.allow_ips if self.allow_ips is None else self.allow_ips,
            group=group,
            auto_groups=(auto_groups or ()) if auto else None,
            cross_group_retry=retry if auto else False,
        )

    def to_json(self) -> dict[str, Any]:
        """The plan document's ``set`` of an update (docs/json.md): the contract's field
        names, and ``budget`` as described above."""
        data: dict[str, Any] = {}
        if self.expired_time is not None:
            data["expired_time"] = self.expired_time
        if self.unlimited_quota is not None:
            data["unlimited_quota"] = self.unlimited_quota
        if self.budget is not None:
            data["budget"] = self.budget
        if self.group is not None:
            data["group"] = self.group
        if self.auto_groups is not None:
            data["auto_groups"] = list(self.auto_groups)
        if self.cross_group_retry is not None:
            data["cross_group_retry"] = self.cross_group_retry
        if self.models is not None:
            data["model_limits_enabled"] = bool(self.models)
            data["model_limits"] = ",".join(self.models)
        if self.allow_ips is not None:
            data["allow_ips"] = "\n".join(self.allow_ips)
        if self.name is not None:
            data["name"] = self.name
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FieldUpdates:
        """Read :meth:`to_json`'s form back (plan documents, saved plans of format 1)."""
        unknown = set(data) - _UPDATE_KEYS
        if unknown:
            raise ValueError(f"an update cannot write {sorted(unknown)}")
        auto_groups = data.get("auto_groups")
        enabled = data.get("model_limits_enabled")
        models = None
        if "model_limits" in data or enabled is not None:
            models = split_models(str(data.get("model_limits") or "")) if enabled else ()
        return cls(
            expired_time=_int_or_none(data.get("expired_time")),
            unlimited_quota=_bool_or_none(data.get("unlimited_quota")),
            budget=_int_or_none(data.get("budget")),
            group=None if data.get("group") is None else str(data["group"]),
            auto_groups=None if auto_groups is None else tuple(str(g) for g in auto_groups),
            cross_group_retry=_bool_or_none(data.get("cross_group_retry")),
            models=models,
            allow_ips=None if "allow_ips" not in data else split_ips(data["allow_ips"]),
            name=None if data.get("name") is None else str(data["name"]),
        )

    def to_saved(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None:
                data[item.name] = list(value) if isinstance(value, tuple) else value
        return data

    @classmethod
    def from_saved(cls, data: Mapping[str, Any]) -> FieldUpdates:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"an update cannot write {sorted(unknown)}")
        values: dict[str, Any] = {
            key: tuple(str(v) for v in value) if isinstance(value, list) else value
            for key, value in data.items()
        }
        return cls(**values)


_UPDATE_KEYS = frozenset(
    {
        "expired_time",
        "unlimited_quota",
        "budget",
        "group",
        "auto_groups",
        "cross_group_retry",
        "model_limits_enabled",
        "model_limits",
        "allow_ips",
        "name",
    }
)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _bool_or_none(value: Any) -> bool | None:
    return None if value is None else bool(value)


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True, kw_only=True)
class Action:
    """What every action carries: the token it touches (by name, and by id unless it is
    created), why, and what the safety rules and the report need to know of it."""

    kind: ClassVar[ActionKind]

    name: str
    token_id: int | None = None
    changes: tuple[FieldChange, ...] = ()  # for people: before -> after
    reason: str = ""
    fingerprint: str = ""  # of the observed token this action touches ("" for creates)
    protected: bool = False
    key_name: str = ""
    accessed_time: int = 0  # last use of the observed token (min_idle)
    # a leftover kept in its desired state (docs/reconcile.md#leftovers): an expired or
    # unfinished rotation's token deleted, a re-enabled leaked one disabled, an extended
    # .old- expiry restored; safety limits do not count it
    cleanup: bool = False

    # -- the plan document (docs/json.md) --

    def written(self) -> dict[str, Any]:
        """The document's ``set``: what apply writes, in the contract's field names."""
        return {}

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "id": self.token_id,
            "reason": self.reason,
            "changes": [
                {"field": c.field, "before": c.before, "after": c.after} for c in self.changes
            ],
            "set": self.written(),
            "fingerprint": self.fingerprint,
            "protected": self.protected,
            "key_name": self.key_name,
            "accessed_time": self.accessed_time,
        }
        data |= self._kind_json()
        if self.cleanup:
            data["cleanup"] = True
        return data

    def _kind_json(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Action:
        """An action from the plan document's form (``set`` as the contract names it)."""
        return _class_of(data)._from_json(data, _common(data))

    @classmethod
    def _from_json(cls, data: Mapping[str, Any], common: dict[str, Any]) -> Action:
        return cls(**common)

    # -- saved plans, format 2 --

    def to_saved(self) -> dict[str, Any]:
        data = self.to_json()
        del data["set"]
        return data | self._kind_saved()

    def _kind_saved(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def from_saved(data: Mapping[str, Any]) -> Action:
        return _class_of(data)._from_saved(data, _common(data))

    @classmethod
    def _from_saved(cls, data: Mapping[str, Any], common: dict[str, Any]) -> Action:
        return cls(**common)


def _class_of(data: Mapping[str, Any]) -> type[Action]:
    cls = _KINDS.get(str(data.get("kind")))
    if cls is None:
        raise ValueError(f"unknown action kind {data.get('kind')!r}")
    return cls


def _common(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": data["name"],
        "token_id": data.get("id"),
        "changes": tuple(
            FieldChange(c["field"], c["before"], c["after"]) for c in data.get("changes", [])
        ),
        "reason": data.get("reason", ""),
        "fingerprint": data.get("fingerprint", ""),
        "protected": bool(data.get("protected", False)),
        "key_name": data.get("key_name", ""),
        "accessed_time": int(data.get("accessed_time", 0)),
        "cleanup": bool(data.get("cleanup", False)),
    }


@dataclass(frozen=True, kw_only=True)
class Creating(Action):
    """An action that POSTs a new token with ``settings``: a :class:`Create`, or the new
    token of a :class:`Rotate`."""

    settings: TokenFields

    def written(self) -> dict[str, Any]:
        return self.settings.to_json()

    @classmethod
    def _own(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """The subclass's own fields, read from either form."""
        return {}

    @classmethod
    def _from_json(cls, data: Mapping[str, Any], common: dict[str, Any]) -> Action:
        settings = TokenFields.from_json(data.get("set") or {"name": common["name"]})
        return cls(**common, settings=settings, **cls._own(data))

    def _kind_saved(self) -> dict[str, Any]:
        return {"settings": self.settings.to_saved()}

    @classmethod
    def _from_saved(cls, data: Mapping[str, Any], common: dict[str, Any]) -> Action:
        settings = TokenFields.from_saved(data["settings"])
        return cls(**common, settings=settings, **cls._own(data))


@dataclass(frozen=True, kw_only=True)
class Create(Creating):
    """A new token with these settings; its key goes to the sink."""

    kind: ClassVar[ActionKind] = "create"
    # limits the server may store without enforcing, which the plan could not confirm (an
    # empty account shows no record): apply creates the token expired and makes it usable
    # only once the record shows them enforced
    unconfirmed: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        if self.unconfirmed:
            data["unconfirmed"] = list(self.unconfirmed)
        return data

    @classmethod
    def _own(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"unconfirmed": tuple(str(u) for u in data.get("unconfirmed", ()))}


@dataclass(frozen=True, kw_only=True)
class Rotate(Creating):
    """A new token with these settings takes the name once the sink has its key; the old
    one is renamed ``rotation_name`` and expires at ``rotation_expiry``
    (docs/reconcile.md#rotation)."""

    kind: ClassVar[ActionKind] = "rotate"
    rotation_name: str
    rotation_expiry: int
    # the quota units the old token has left and keeps until it expires (the new one gets
    # the full declared budget); None when unlimited, -1 when not known (a plan saved
    # before it was recorded)
    old_remaining: int | None = -1
    scheduled: bool = False  # due by the token's own rotate.every (not requested)

    def _kind_json(self) -> dict[str, Any]:
        return {
            "rotation_name": self.rotation_name,
            "rotation_expiry": self.rotation_expiry,
            "old_remaining": self.old_remaining,
            "scheduled": self.scheduled,
        }

    @classmethod
    def _own(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        remaining = data.get("old_remaining", -1)
        return {
            "rotation_name": data.get("rotation_name", ""),
            "rotation_expiry": int(data.get("rotation_expiry", 0)),
            "old_remaining": None if remaining is None else int(remaining),
            "scheduled": bool(data.get("scheduled", False)),
        }


@dataclass(frozen=True, kw_only=True)
class Update(Action):
    """Fields of an existing token rewritten (read-merge-write: the rest is kept)."""

    kind: ClassVar[ActionKind] = "update"
    set: FieldUpdates = field(default_factory=FieldUpdates)

    def written(self) -> dict[str, Any]:
        return self.set.to_json()

    @classmethod
    def _from_json(cls, data: Mapping[str, Any], common: dict[str, Any]) -> Action:
        return cls(**common, set=FieldUpdates.from_json(data.get("set") or {}))

    def _kind_saved(self) -> dict[str, Any]:
        return {"set": self.set.to_saved()}

    @classmethod
    def _from_saved(cls, data: Mapping[str, Any], common: dict[str, Any]) -> Action:
        return cls(**common, set=FieldUpdates.from_saved(data.get("set") or {}))


@dataclass(frozen=True, kw_only=True)
class Rename(Update):
    """``renamed_from``: one update gives the old token the new name (``set.name``), its key
    kept, with any field the file changed."""

    kind: ClassVar[ActionKind] = "rename"


@dataclass(frozen=True, kw_only=True)
class Enable(Action):
    """A token made usable again (status 1): disabled by hand, or listed dead and revived
    by its update (docs/server-contract.md#re-enable-guard); its key is delivered again."""

    kind: ClassVar[ActionKind] = "enable"


@dataclass(frozen=True, kw_only=True)
class Deliver(Action):
    """An existing token's key, revealed and delivered: the sink lacks it or holds another."""

    kind: ClassVar[ActionKind] = "deliver"


@dataclass(frozen=True, kw_only=True)
class Disable(Action):
    """A token switched off (status 2): declared disabled, an orphan under ``manage.orphans:
    disable``, or a leaked token someone enabled again. Its key stops working; it stays."""

    kind: ClassVar[ActionKind] = "disable"


@dataclass(frozen=True, kw_only=True)
class Delete(Action):
    """A token removed; its key leaves the sink, where the sink holds that very key under
    ``key_name``."""

    kind: ClassVar[ActionKind] = "delete"


_KINDS: dict[str, type[Action]] = {
    cls.kind: cls for cls in (Create, Rotate, Update, Rename, Enable, Deliver, Disable, Delete)
}
