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


def test_every_cache_lives_under_the_root(monkeypatch, tmp_path):
    from caravan.decontam.index import default_cache_dir as decontam_dir
    from caravan.llm.api import default_cache_path
    from caravan.train_adapters.dpo import default_cache_dir as dpo_dir

    root = tmp_path / "fast-storage"
    monkeypatch.setenv("CARAVAN_CACHE_DIR", str(root))
    for var in ("CARAVAN_LLM_CACHE", "CARAVAN_CACHE"):
        monkeypatch.delenv(var, raising=False)
    assert default_cache_path() == root / "llm" / "responses.sqlite"
    assert decontam_dir() == root / "decontam"
    assert dpo_dir() == root / "dpo-ref-logps"
    # The older one-file override still works for the LLM cache.
    monkeypatch.setenv("CARAVAN_LLM_CACHE", str(tmp_path / "mine.sqlite"))
    assert default_cache_path() == tmp_path / "mine.sqlite"
