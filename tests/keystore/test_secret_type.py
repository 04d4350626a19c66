"""Secret: every printable form is masked; pickling is refused."""

from __future__ import annotations

import copy
import json
import logging
import pickle

import pydantic
import pytest
from keyhelpers import CREDENTIAL, KEY, KEY_BODY

from provisioner.secret import Secret, json_default, mask


def assert_hidden(text: str) -> None:
    assert KEY_BODY not in text
    assert CREDENTIAL.reveal() not in text


def test_str_repr_format_masked() -> None:
    for form in (
        str(KEY),
        repr(KEY),
        f"{KEY}",
        f"{KEY!r}",
        f"{KEY:>80}",
        "%s" % (KEY,),  # noqa: UP031
        f"{KEY}",
    ):
        assert_hidden(form)
    assert str(KEY) == "sk-a1B2...w3X4"
    assert str(CREDENTIAL) == CREDENTIAL.masked and CREDENTIAL.masked != CREDENTIAL.reveal()


def test_containers_and_exceptions_masked() -> None:
    assert_hidden(str([KEY, {"k": CREDENTIAL}]))
    assert_hidden(str(ValueError("bad", KEY)))


def test_json_masked() -> None:
    text = json.dumps({"key": KEY, "nested": [CREDENTIAL]}, default=json_default)
    assert_hidden(text)
    assert json.loads(text)["key"] == KEY.masked
    with pytest.raises(TypeError):
        json.dumps({"key": KEY})  # without json_default it refuses rather than leaks


def test_pydantic_dump_masked() -> None:
    class Model(pydantic.BaseModel):
        key: Secret
        other: list[Secret] = []

    model = Model(key=KEY.reveal(), other=[CREDENTIAL])
    assert model.key == KEY
    assert_hidden(str(model.model_dump()))
    assert_hidden(model.model_dump_json())
    assert_hidden(repr(model))
    assert model.model_dump(mode="json")["key"] == KEY.masked


def test_logging_masked(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").debug("key %s cred %r", KEY, CREDENTIAL)
    assert_hidden(caplog.text)


def test_pickling_refused() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(KEY)


def test_immutable_and_comparable() -> None:
    with pytest.raises(AttributeError):
        KEY._value = "x"  # type: ignore[misc]
    assert Secret(KEY.reveal()) == KEY and KEY != CREDENTIAL
    assert Secret(KEY) == KEY
    assert KEY.reveal() != KEY  # no accidental equality with the raw string
    assert copy.copy(KEY) is KEY and copy.deepcopy({"k": [KEY]})["k"][0] is KEY


@pytest.mark.parametrize(
    ("raw", "masked"),
    [("sk-" + "a" * 15, "sk-********"), ("short", "*****"), ("", ""), ("x" * 40, "xxxx...xxxx")],
)
def test_mask_short_values_fully(raw: str, masked: str) -> None:
    assert mask(raw) == masked
