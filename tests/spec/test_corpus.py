"""The bad and good spec corpora: every bad file's exact messages and positions."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.spec import SpecError, load_spec

HERE = Path(__file__).parent
NOW = 1767225600  # 2026-01-01T00:00:00Z, so the corpus does not age
BAD = sorted((HERE / "bad").glob("*.yaml"))
GOOD = sorted((HERE / "good").glob("*.yaml"))


def test_corpus_sizes() -> None:
    assert len(BAD) >= 40
    assert len(GOOD) >= 8


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_spec(path: Path) -> None:
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    with pytest.raises(SpecError) as caught:
        load_spec(path, now=NOW)
    got = [f"{d.line}:{d.col}: {d.message}" for d in caught.value.diagnostics]
    assert got == expected
    for diagnostic in caught.value.diagnostics:
        assert diagnostic.file == str(path)
        assert str(diagnostic) == f"{path}:{diagnostic.line}:{diagnostic.col}: {diagnostic.message}"


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_good_spec(path: Path) -> None:
    spec = load_spec(path, now=NOW)
    assert spec.version == 1
    warnings_file = path.with_suffix(".warnings")
    expected = (
        warnings_file.read_text(encoding="utf-8").splitlines() if warnings_file.exists() else []
    )
    assert [f"{d.line}:{d.col}: {d.message}" for d in spec.warning_diagnostics] == expected
    assert list(spec.warnings) == [str(d) for d in spec.warning_diagnostics]
    names = [t.name for t in spec.tokens]
    assert len(names) == len(set(names))
    assert len({t.key_name for t in spec.tokens}) == len(names)


def test_example_is_valid() -> None:
    spec = load_spec(HERE.parents[1] / "examples" / "tokens.yaml", now=NOW)
    assert {t.name for t in spec.tokens} >= {"sora-video-api", "storyboard-video"}
    assert spec.keys_to == "dotenv:.provisioner/keys.env"
