"""The password flow, tokens and user management."""

from __future__ import annotations

from sqlmodel import Session

from cdw.accounts.services import create_user
from cdw.auth.models import Role, UserCreate
from cdw.auth.security import hash_password, verify_password
from cdw.config import get_settings


def _add_user(engine, username="officer1", password="s3cret-pass", role=Role.permit_officer):
    with Session(engine) as s:
        data = UserCreate(username=username, password=password, role=role)
        create_user(s, data, get_settings(), actor="tests")
        s.commit()


def test_password_hash_is_salted_and_verifies():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second
    assert first.startswith("$argon2")
    assert verify_password("correct horse", first)
    assert not verify_password("correct horsE", first)


def test_login_issues_token_that_identifies_the_user(client, engine):
    _add_user(engine)
    resp = client.post(
        "/api/v1/auth/token", data={"username": "officer1", "password": "s3cret-pass"}
    )
    assert resp.status_code == 200
    token = resp.json()["access_token"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["username"] == "officer1"
    assert me.json()["role"] == "permit_officer"
    assert "hashed_password" not in me.json()


def test_wrong_password_and_unknown_user_get_401_in_both_languages(client, engine):
    _add_user(engine)
    for username, password in [("officer1", "wrong-pass"), ("nobody", "s3cret-pass")]:
        resp = client.post("/api/v1/auth/token", data={"username": username, "password": password})
        assert resp.status_code == 401
        body = resp.json()
        assert body["code"] == "not_authenticated"
        assert body["message_zh"] == "用户名或密码错误"
        assert body["message_en"] == "Incorrect username or password"


def test_tampered_or_missing_token_is_401(client, auth_headers):
    good = auth_headers(Role.viewer)["Authorization"]
    assert client.get("/api/v1/auth/me", headers={"Authorization": good}).status_code == 200
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    assert client.get("/api/v1/auth/me", headers={"Authorization": tampered}).status_code == 401
    assert client.get("/api/v1/auth/me").status_code == 401


def test_admin_creates_users_and_duplicate_is_409(client, auth_headers):
    admin = auth_headers(Role.admin)
    body = {"username": "viewer2", "password": "long-enough-1", "role": "viewer"}
    first = client.post("/api/v1/users", json=body, headers=admin)
    assert first.status_code == 201, first.text
    assert first.json()["role"] == "viewer"
    again = client.post("/api/v1/users", json=body, headers=admin)
    assert again.status_code == 409
    assert again.json()["code"] == "conflict"


def test_bound_role_without_binding_is_422_naming_the_field(client, auth_headers):
    admin = auth_headers(Role.admin)
    body = {"username": "gate1", "password": "long-enough-1", "role": "site_dispatcher"}
    resp = client.post("/api/v1/users", json=body, headers=admin)
    assert resp.status_code == 422
    assert "site_id" in resp.text


def test_unbound_role_may_not_carry_a_binding(client, auth_headers):
    admin = auth_headers(Role.admin)
    body = {"username": "v3", "password": "long-enough-1", "role": "viewer", "haulier_id": 1}
    assert client.post("/api/v1/users", json=body, headers=admin).status_code == 422
