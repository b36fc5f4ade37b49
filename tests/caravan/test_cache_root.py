from pathlib import Path

from caravan.cache_root import cache_dir, cache_root


def test_explicit_root_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("CARAVAN_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_root() == tmp_path / "c"
    assert cache_dir("llm") == tmp_path / "c" / "llm"


def test_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.delenv("CARAVAN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir("decontam") == tmp_path / "x" / "caravan" / "decontam"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "caravan"
