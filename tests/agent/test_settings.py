from pathlib import Path

from softloop.agent import settings


def test_home_and_url_follow_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SOFTLOOP_HOME", str(tmp_path))
    monkeypatch.delenv("SOFTLOOP_DATABASE_URL", raising=False)
    assert settings.softloop_home() == tmp_path
    assert settings.database_url() == f"sqlite:///{tmp_path / 'softloop.db'}"
    monkeypatch.setenv("SOFTLOOP_DATABASE_URL", "postgresql+psycopg://db/x")
    assert settings.database_url() == "postgresql+psycopg://db/x"


def test_default_home_is_the_user_data_dir(monkeypatch) -> None:
    monkeypatch.delenv("SOFTLOOP_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", "/data/xdg")
    assert settings.softloop_home() == Path("/data/xdg/softloop")
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    assert settings.softloop_home() == Path.home() / ".local" / "share" / "softloop"
