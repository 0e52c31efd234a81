"""The signing key: refused when public or short, made once per install when not configured."""

from __future__ import annotations

import stat

import pytest
from fastapi.testclient import TestClient

from cdw.api.app import app
from cdw.auth.keys import PUBLISHED_KEYS, InsecureKey, check_signing_key, key_file, signing_key
from cdw.config import Settings, get_settings

OLD_DEFAULT_KEY = "change-me-in-production-cdw-secret-key"


def _settings(tmp_path, **values) -> Settings:
    return Settings(data_dir=tmp_path / "data", **values)


@pytest.fixture
def environment(monkeypatch):
    """Set CDW_* variables for the app's own settings; the cached settings are reset after."""

    def set_env(**values: str) -> None:
        monkeypatch.delenv("CDW_SECRET_KEY", raising=False)
        monkeypatch.delenv("CDW_ENV", raising=False)
        for name, value in values.items():
            monkeypatch.setenv(f"CDW_{name.upper()}", value)
        get_settings.cache_clear()

    yield set_env
    monkeypatch.undo()
    get_settings.cache_clear()


def test_the_old_default_key_is_known_as_published():
    assert OLD_DEFAULT_KEY in PUBLISHED_KEYS


@pytest.mark.parametrize("key", [OLD_DEFAULT_KEY, "short-key", "x" * 31])
def test_a_public_or_short_key_is_refused_outside_development(tmp_path, key):
    with pytest.raises(InsecureKey) as refused:
        check_signing_key(_settings(tmp_path, secret_key=key))
    assert refused.value.zh and refused.value.en
    check_signing_key(_settings(tmp_path, secret_key=key, env="development"))


def test_a_long_random_key_is_accepted(tmp_path):
    check_signing_key(_settings(tmp_path, secret_key="k" * 32))


def test_without_a_configured_key_one_is_made_owner_only_and_kept(tmp_path):
    settings = _settings(tmp_path)
    path = key_file(settings)
    assert not path.exists()
    check_signing_key(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text().strip()
    assert len(key.encode()) >= 32
    assert signing_key(settings) == key
    assert signing_key(_settings(tmp_path)) == key  # kept, not made again
    assert signing_key(_settings(tmp_path / "other")) != key  # one per install


def test_a_key_file_others_can_read_is_refused(tmp_path):
    path = key_file(_settings(tmp_path))
    path.parent.mkdir(parents=True)
    path.write_text("r" * 43)
    path.chmod(0o644)
    with pytest.raises(InsecureKey, match="chmod 600"):
        check_signing_key(_settings(tmp_path))


def test_the_api_does_not_start_with_the_default_key(environment, tmp_path):
    environment(secret_key=OLD_DEFAULT_KEY, data_dir=str(tmp_path))
    with pytest.raises(InsecureKey), TestClient(app):
        pass


def test_the_api_starts_with_the_default_key_in_development(environment, tmp_path):
    environment(secret_key=OLD_DEFAULT_KEY, data_dir=str(tmp_path), env="development")
    with TestClient(app) as client:
        assert client.get("/api/v1/auth/me").status_code == 401


def test_the_api_makes_its_key_at_first_start(environment, tmp_path):
    environment(data_dir=str(tmp_path))
    with TestClient(app):
        pass
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600
