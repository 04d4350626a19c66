"""Key sinks: parsing, file modes, atomic merge, exec isolation, stdout, add-mask."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from pathlib import Path

import pytest
from keyhelpers import CREDENTIAL, KEY, KEY2, RecordingKeyring

from provisioner.cli.workflow import add_mask
from provisioner.keystore import keyring_store
from provisioner.keystore.sinks import (
    DeliveryResult,
    DotenvSink,
    ExecSink,
    JsonSink,
    KeyDelivery,
    KeyringSink,
    Sink,
    StdoutSink,
    dotenv_quote,
    parse_sink,
    read_dotenv,
    validate_sink_text,
)
from provisioner.secret import Secret

URL = "https://api.example.com"


def item(name: str = "sora-video-api", key_name: str = "SORA_VIDEO_API", key: Secret = KEY):
    return KeyDelivery(name=name, key_name=key_name, key=key, server_url=URL)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("keyring", KeyringSink),
        ("stdout", StdoutSink),
        ("dotenv:.env.keys", DotenvSink),
        ("json:~/keys.json", JsonSink),
        ("exec:vault kv put 'secret/{name}' key=-", ExecSink),
    ],
)
def test_parse_sink_forms(text: str, kind: type) -> None:
    sink = parse_sink(text)
    assert isinstance(sink, kind)
    assert isinstance(sink, Sink)
    assert validate_sink_text(text) is None


def test_parse_sink_details() -> None:
    json_sink = parse_sink("json:~/keys.json")
    assert isinstance(json_sink, JsonSink) and json_sink.path == Path.home() / "keys.json"
    exec_sink = parse_sink("exec:vault kv put 'secret/{name}' key=-")
    assert isinstance(exec_sink, ExecSink)
    assert exec_sink.argv == ["vault", "kv", "put", "secret/{name}", "key=-"]


@pytest.mark.parametrize(
    "text", ["", "vault", "env:X", "dotenv:", "json:  ", "exec:", "exec:'unbalanced", "KEYRING"]
)
def test_parse_sink_errors_list_the_forms(text: str) -> None:
    with pytest.raises(ValueError):
        parse_sink(text)
    message = validate_sink_text(text)
    assert message
    if not text.startswith(("dotenv", "json", "exec")):
        assert "dotenv:PATH" in message and "exec:CMD" in message


# --------------------------------------------------------------------------- dotenv


def test_dotenv_created_0600_in_new_dirs(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "keys.env"
    results = DotenvSink(path).deliver([item(), item("b", "B_KEY", KEY2)])
    assert all(r.ok for r in results), results
    assert mode(path) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    assert read_dotenv(path.read_text()) == {
        "SORA_VIDEO_API": KEY.reveal(),
        "B_KEY": KEY2.reveal(),
    }
    assert results[0] == DeliveryResult("sora-video-api", True, "", str(path))


def test_dotenv_merge_keeps_others_replaces_one_and_tightens_mode(tmp_path: Path) -> None:
    path = tmp_path / "keys.env"
    path.write_text(
        "# managed by hand\nOTHER=keep-me\nexport SORA_VIDEO_API=old-value\nLAST='x y'\n"
    )
    path.chmod(0o644)
    inode_before = path.stat().st_ino
    results = DotenvSink(path).deliver([item()])
    assert results[0].ok
    text = path.read_text()
    assert text.startswith("# managed by hand\nOTHER=keep-me\n")
    assert "old-value" not in text
    assert read_dotenv(text) == {"OTHER": "keep-me", "SORA_VIDEO_API": KEY.reveal(), "LAST": "x y"}
    assert mode(path) == 0o600
    assert path.stat().st_ino != inode_before  # replaced, not rewritten in place
    assert [p.name for p in tmp_path.iterdir()] == ["keys.env"]  # no temp file left


@pytest.mark.parametrize(
    "value",
    ["sk-plain123", "has space", "it's", 'a"b$c`d\\e', "#hash", "trailing ", "=x"],
)
def test_dotenv_quoting_round_trip(value: str) -> None:
    line = f"K={dotenv_quote(value)}"
    assert read_dotenv(line) == {"K": value}


def test_dotenv_quoting_survives_a_shell(tmp_path: Path) -> None:
    import subprocess

    path = tmp_path / "k.env"
    path.write_text(
        "".join(f"K{i}={dotenv_quote(v)}\n" for i, v in enumerate(["it's", "a$b", "x y"]))
    )
    out = subprocess.run(
        ["sh", "-c", f'. "{path}"; printf "%s|%s|%s" "$K0" "$K1" "$K2"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == "it's|a$b|x y"


def test_dotenv_refuses_bad_key_name_but_writes_others(tmp_path: Path) -> None:
    path = tmp_path / "keys.env"
    results = DotenvSink(path).deliver([item("bad", "9-bad name"), item()])
    assert [r.ok for r in results] == [False, True]
    assert "environment variable name" in results[0].error
    assert list(read_dotenv(path.read_text())) == ["SORA_VIDEO_API"]


def test_file_sink_refuses_symlink(tmp_path: Path) -> None:
    target = tmp_path / "real.env"
    target.write_text("OTHER=1\n")
    link = tmp_path / "link.env"
    link.symlink_to(target)
    results = DotenvSink(link).deliver([item()])
    assert not results[0].ok and "symbolic link" in results[0].error
    assert link.is_symlink() and target.read_text() == "OTHER=1\n"


def test_file_sink_write_failure_reports_every_key(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    results = JsonSink(blocker / "keys.json").deliver([item(), item("b", "B", KEY2)])
    assert [r.ok for r in results] == [False, False]
    for result in results:
        assert result.error and KEY.reveal() not in result.error


# --------------------------------------------------------------------------- json


def test_json_created_0600_sorted_pretty(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    results = JsonSink(path).deliver([item("b", "ZED", KEY2), item()])
    assert all(r.ok for r in results)
    assert mode(path) == 0o600
    text = path.read_text()
    origins = {"SORA_VIDEO_API": "https://api.example.com", "ZED": "https://api.example.com"}
    assert json.loads(text) == {
        "SORA_VIDEO_API": KEY.reveal(),
        "ZED": KEY2.reveal(),
        "provisioner:origins": origins,  # where each key came from (docs/sinks.md)
    }
    assert text.index("SORA_VIDEO_API") < text.index("ZED")
    assert "\n  " in text and text.endswith("\n")


def test_json_merge_keeps_others_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"OTHER": "keep", "SORA_VIDEO_API": "old", "n": 1}))
    path.chmod(0o664)
    assert JsonSink(path).deliver([item()])[0].ok
    assert json.loads(path.read_text()) == {
        "OTHER": "keep",
        "SORA_VIDEO_API": KEY.reveal(),
        "n": 1,
        "provisioner:origins": {"SORA_VIDEO_API": "https://api.example.com"},
    }
    assert mode(path) == 0o600


@pytest.mark.parametrize("content", ["[1, 2]", "{not json"])
def test_json_refuses_to_clobber_foreign_content(tmp_path: Path, content: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    result = JsonSink(path).deliver([item()])[0]
    assert not result.ok and "refusing to overwrite" in result.error
    assert path.read_text() == content


# --------------------------------------------------------------------------- exec

RECORDER = """
import json, os, sys
out = sys.argv[1]
data = {"argv": sys.argv, "env": dict(os.environ), "stdin": sys.stdin.read()}
with open(out, "w") as f:
    json.dump(data, f)
"""


def test_exec_key_only_on_stdin(tmp_path: Path) -> None:
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    out = tmp_path / "{name}.json"
    env = dict(os.environ)
    env["NEWAPI_TOKEN"] = CREDENTIAL.reveal()
    env["COPY_OF_CREDENTIAL"] = CREDENTIAL.reveal()
    env["NEWAPI_TOKEN_FILE"] = "/somewhere/token"
    env["HARMLESS"] = "stays"
    sink = ExecSink([sys.executable, str(script), str(out), "{key_name}", "x-{name}-y"], env=env)
    results = sink.deliver([item(), item("other", "OTHER_KEY", KEY2)])
    assert [r.ok for r in results] == [True, True], results

    first = json.loads((tmp_path / "sora-video-api.json").read_text())
    assert first["stdin"] == KEY.reveal() + "\n"
    assert first["argv"][2:] == ["SORA_VIDEO_API", "x-sora-video-api-y"]
    second = json.loads((tmp_path / "other.json").read_text())
    assert second["stdin"] == KEY2.reveal() + "\n"
    for record in (first, second):
        env_text = json.dumps(record["env"])
        argv_text = json.dumps(record["argv"])
        for secret in (KEY, KEY2, CREDENTIAL):
            assert secret.reveal() not in env_text
            assert secret.reveal() not in argv_text
        assert KEY.reveal()[3:] not in env_text + argv_text
        assert "NEWAPI_TOKEN" not in record["env"] and "NEWAPI_TOKEN_FILE" not in record["env"]
        assert record["env"]["HARMLESS"] == "stays"


def test_exec_drops_variable_equal_to_given_credential(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "MY_ADMIN": CREDENTIAL.reveal(), "A_KEY": KEY.reveal()}
    sink = ExecSink(["true"], env=env, credential=CREDENTIAL)
    child = sink.child_env([KEY.reveal()])
    assert child == {"PATH": os.environ["PATH"]}


def test_exec_failure_reported_masked(tmp_path: Path) -> None:
    script = tmp_path / "fail.py"
    script.write_text(
        "import sys\nkey = sys.stdin.read().strip()\n"
        "print('noise', file=sys.stderr)\n"
        "print('vault refused ' + key, file=sys.stderr)\nsys.exit(3)\n"
    )
    results = ExecSink([sys.executable, str(script)]).deliver([item(), item("b", "B", KEY2)])
    assert [r.ok for r in results] == [False, False]
    error = results[0].error
    assert "exited with 3" in error and "vault refused" in error
    assert KEY.reveal() not in error and KEY.reveal()[3:] not in error
    assert KEY.masked in error


def test_exec_missing_command() -> None:
    result = ExecSink(["/nonexistent/provisioner-sink"]).deliver([item()])[0]
    assert not result.ok and "command not found" in result.error


def test_exec_timeout(tmp_path: Path) -> None:
    result = ExecSink([sys.executable, "-c", "import time; time.sleep(10)"], timeout=0.5).deliver(
        [item()]
    )[0]
    assert not result.ok and "timed out" in result.error


def test_exec_substitution_only_in_args() -> None:
    sink = ExecSink(["{name}", "a{name}b", "{key_name}", "{other}", "{}"])
    assert sink.command_for(item()) == [
        "{name}",
        "asora-video-apib",
        "SORA_VIDEO_API",
        "{other}",
        "{}",
    ]


def test_exec_description_has_no_key() -> None:
    sink = ExecSink(["vault", "kv", "put", "x"], env={"NEWAPI_TOKEN": CREDENTIAL.reveal()})
    assert CREDENTIAL.reveal() not in repr(sink)
    assert sink.description == "exec:vault kv put x"


# --------------------------------------------------------------------------- stdout


def test_stdout_sink_prints_full_key() -> None:
    stream = io.StringIO()
    results = StdoutSink(stream).deliver([item(), item("b", "B", KEY2)])
    assert all(r.ok and r.where == "stdout" for r in results)
    assert stream.getvalue() == f"SORA_VIDEO_API={KEY.reveal()}\nB={KEY2.reveal()}\n"


def test_stdout_sink_defaults_to_sys_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    StdoutSink().deliver([item()])
    assert capsys.readouterr().out == f"SORA_VIDEO_API={KEY.reveal()}\n"


# --------------------------------------------------------------------------- add-mask


def test_github_add_mask_under_actions() -> None:
    stream = io.StringIO()
    count = add_mask([KEY, KEY2], stream, env={"GITHUB_ACTIONS": "true"})
    lines = stream.getvalue().splitlines()
    assert count == 4 == len(lines)
    assert all(line.startswith("::add-mask::") for line in lines)
    assert f"::add-mask::{KEY.reveal()}" in lines
    assert f"::add-mask::{KEY.reveal()[3:]}" in lines


def test_add_mask_goes_to_stderr_and_escapes(capsys: pytest.CaptureFixture[str]) -> None:
    odd = Secret("sk-abc%0A::warning::x\nfoo")
    assert add_mask([odd], env={"GITHUB_ACTIONS": "true"}) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 2 and all(line.startswith("::add-mask::") for line in lines)
    assert "%250A" in lines[1] and "%0Afoo" in lines[1]  # no value starts a command of its own


def test_github_add_mask_silent_elsewhere() -> None:
    stream = io.StringIO()
    assert add_mask([KEY], stream, env={}) == 0
    assert add_mask([KEY], stream, env={"GITHUB_ACTIONS": "false"}) == 0
    assert stream.getvalue() == ""


# --------------------------------------------------------------------------- keyring sink


def test_keyring_sink_stores_under_service(use_backend) -> None:
    backend = use_backend(RecordingKeyring())
    results = KeyringSink().deliver(
        [KeyDelivery("a", "A_KEY", KEY, URL + "/"), KeyDelivery("b", "B_KEY", KEY2, URL)]
    )
    assert all(r.ok for r in results)
    assert backend.store[("provisioner:https://api.example.com", "A_KEY")] == KEY.reveal()
    assert backend.store[("provisioner:https://api.example.com", "B_KEY")] == KEY2.reveal()
    assert "provisioner:https://api.example.com" in results[0].where


def test_keyring_sink_unavailable_is_per_key_failure() -> None:
    results = KeyringSink().deliver([item(), item("b", "B", KEY2)])
    assert [r.ok for r in results] == [False, False]
    assert "dotenv:PATH" in results[0].error
    assert keyring_store.KeyringUnavailableError.__name__  # one clear message, no traceback


# ------------------------------------------------------------ dotenv: the form a line had


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("export SORA_VIDEO_API=old", "export SORA_VIDEO_API={key}"),
        (
            "  export SORA_VIDEO_API='old'   # staging",
            "  export SORA_VIDEO_API='{key}'   # staging",
        ),
        ('SORA_VIDEO_API="old" # prod', 'SORA_VIDEO_API="{key}" # prod'),
        ("SORA_VIDEO_API = old", "SORA_VIDEO_API = {key}"),
        ("export\tSORA_VIDEO_API=old # note", "export\tSORA_VIDEO_API={key} # note"),
        ("SORA_VIDEO_API=", "SORA_VIDEO_API={key}"),
    ],
)
def test_dotenv_keeps_the_form_of_the_line(tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "keys.env"
    path.write_text(f"OTHER=1\n{line}\nLAST=2\n")
    assert DotenvSink(path).deliver([item()])[0].ok
    lines = path.read_text().splitlines()
    assert lines[0] == "OTHER=1" and lines[-1] == "LAST=2"
    assert lines[-2] == expected.format(key=KEY.reveal())
    assert lines[-3].lstrip().startswith("# SORA_VIDEO_API: provisioner key of ")
    assert read_dotenv(path.read_text())["SORA_VIDEO_API"] == KEY.reveal()


def test_dotenv_replaces_a_value_over_several_lines(tmp_path: Path) -> None:
    path = tmp_path / "keys.env"
    path.write_text('A="one\nSORA_VIDEO_API=not-a-line\ntwo"\nSORA_VIDEO_API="old\nold"\nZ=1\n')
    assert DotenvSink(path).deliver([item()])[0].ok
    text = path.read_text()
    assert 'A="one\nSORA_VIDEO_API=not-a-line\ntwo"\n' in text  # another value's lines kept
    assert f'SORA_VIDEO_API="{KEY.reveal()}"\nZ=1\n' in text and "old" not in text


@pytest.mark.parametrize(
    ("existing", "new_line"),
    [
        ("export A=1\nexport B=2\n", "export SORA_VIDEO_API="),
        ("export A=1\nB=2\n", "SORA_VIDEO_API="),
        ("# nothing yet\n", "SORA_VIDEO_API="),
    ],
)
def test_dotenv_new_keys_follow_the_file(tmp_path: Path, existing: str, new_line: str) -> None:
    path = tmp_path / "keys.env"
    path.write_text(existing)
    assert DotenvSink(path).deliver([item()])[0].ok
    assert path.read_text().splitlines()[-1] == new_line + KEY.reveal()


def test_dotenv_exported_keys_reach_a_program_after_source(tmp_path: Path) -> None:
    """`source keys.env && ./app`: the app sees the key only if the line still says export."""
    import subprocess

    path = tmp_path / "keys.env"
    path.write_text("export SORA_VIDEO_API=old\n")
    assert DotenvSink(path).deliver([item(), item("b", "B_KEY", KEY2)])[0].ok
    out = subprocess.run(
        ["sh", "-c", f'. "{path}" && env'], capture_output=True, text=True, check=True
    ).stdout
    assert f"SORA_VIDEO_API={KEY.reveal()}" in out.splitlines()
    assert f"B_KEY={KEY2.reveal()}" in out.splitlines()  # a new key in an all-export file


def test_file_sinks_create_every_missing_folder_0700(tmp_path: Path) -> None:
    outer = tmp_path / "existing"
    outer.mkdir(mode=0o755)
    outer.chmod(0o755)
    old_umask = os.umask(0o022)
    try:
        for sink, name in ((DotenvSink, "keys.env"), (JsonSink, "keys.json")):
            path = outer / sink.kind / "b" / "c" / name
            assert sink(path).deliver([item()])[0].ok
            for folder in (outer / sink.kind, outer / sink.kind / "b", path.parent):
                assert mode(folder) == 0o700, folder
            assert mode(path) == 0o600
    finally:
        os.umask(old_umask)
    assert mode(outer) == 0o755  # a folder that was there is left as it was
