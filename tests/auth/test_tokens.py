"""Bearer tokens must be signed with the install's key and carry sub, ver, iat and exp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from cdw.auth.keys import signing_key
from cdw.auth.models import Role
from cdw.auth.security import ALGORITHM, create_access_token
from cdw.config import get_settings

NOW = datetime.now(UTC)
FULL = {"sub": "admin", "ver": 0, "iat": NOW, "exp": NOW + timedelta(hours=1)}


def _me(client, claims, key=None):
    token = jwt.encode(claims, key or signing_key(get_settings()), algorithm=ALGORITHM)
    return client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def admin(auth_headers):
    return auth_headers(Role.admin)


def test_a_complete_token_is_accepted(client, admin):
    assert _me(client, FULL).status_code == 200


@pytest.mark.parametrize("missing", ["exp", "iat", "ver", "sub"])
def test_a_token_without_a_required_claim_is_refused(client, admin, missing):
    claims = {k: v for k, v in FULL.items() if k != missing}
    answer = _me(client, claims)
    assert answer.status_code == 401
    assert answer.json()["code"] == "not_authenticated"


def test_an_expired_token_is_refused(client, admin):
    claims = {**FULL, "iat": NOW - timedelta(hours=2), "exp": NOW - timedelta(hours=1)}
    assert _me(client, claims).status_code == 401


def test_a_token_signed_with_the_old_public_default_key_is_refused(client, admin):
    assert _me(client, FULL, key="change-me-in-production-cdw-secret-key").status_code == 401


def test_issued_tokens_carry_issue_time_and_expiry():
    token = create_access_token("someone", get_settings(), token_version=3)
    claims = jwt.decode(token, signing_key(get_settings()), algorithms=[ALGORITHM])
    assert claims["ver"] == 3
    assert claims["exp"] - claims["iat"] == get_settings().token_expire_minutes * 60
