"""Admins manage accounts: disable, enable, role and binding, password reset. Each change is
audited in its transaction and revokes the user's tokens."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from cdw.accounts.services import create_user
from cdw.audit.log import history
from cdw.auth.models import Role, UserCreate
from cdw.config import get_settings

PASSWORD = "Tr4ck-and-Trace"
NEW_PASSWORD = "Gravel-Lorry-77"


@pytest.fixture
def officer(engine) -> int:
    with Session(engine) as s:
        data = UserCreate(username="officer1", password=PASSWORD, role=Role.permit_officer)
        user = create_user(s, data, get_settings(), actor="tests")
        s.commit()
        return user.id


def _login(client, password=PASSWORD, username="officer1"):
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def _bearer(client, password=PASSWORD) -> dict[str, str]:
    answer = _login(client, password)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _actions(engine, user_id: int) -> list[str]:
    with Session(engine) as s:
        return [entry.action for entry in history(s, "user", user_id)]


def test_disable_refuses_the_users_tokens_and_log_in_until_enabled(
    client, engine, auth_headers, officer
):
    token = _bearer(client)
    admin = auth_headers(Role.admin)
    answer = client.post(
        f"/api/v1/users/{officer}/disable", json={"reason": "left the bureau"}, headers=admin
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["is_active"] is False
    assert client.get("/api/v1/auth/me", headers=token).status_code == 401
    assert _login(client).status_code == 401

    answer = client.post(f"/api/v1/users/{officer}/enable", headers=admin)
    assert answer.json()["is_active"] is True
    assert client.get("/api/v1/auth/me", headers=token).status_code == 401  # stays revoked
    assert client.get("/api/v1/auth/me", headers=_bearer(client)).status_code == 200
    assert _actions(engine, officer) == ["create", "disable", "enable"]
    with Session(engine) as s:
        assert history(s, "user", officer)[1].reason == "left the bureau"


def test_role_change_revokes_tokens_and_the_new_token_has_the_new_role(
    client, engine, auth_headers, officer
):
    token = _bearer(client)
    answer = client.put(
        f"/api/v1/users/{officer}/role", json={"role": "viewer"}, headers=auth_headers(Role.admin)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["role"] == "viewer"
    assert client.get("/api/v1/auth/me", headers=token).status_code == 401
    assert client.get("/api/v1/auth/me", headers=_bearer(client)).json()["role"] == "viewer"
    with Session(engine) as s:
        entry = history(s, "user", officer)[-1]
    assert entry.action == "change_role"
    assert entry.data["from"]["role"] == "permit_officer"
    assert entry.data["to"]["role"] == "viewer"
    assert entry.actor == "admin"


def test_binding_change_needs_an_existing_record(client, auth_headers, officer):
    admin = auth_headers(Role.admin)
    missing = client.put(
        f"/api/v1/users/{officer}/role", json={"role": "haulier", "haulier_id": 9999}, headers=admin
    )
    assert missing.status_code == 404
    unbound = client.put(f"/api/v1/users/{officer}/role", json={"role": "haulier"}, headers=admin)
    assert unbound.status_code == 422
    assert "haulier_id" in unbound.text


def test_password_reset_revokes_tokens_and_the_new_password_works(
    client, engine, auth_headers, officer
):
    token = _bearer(client)
    answer = client.post(
        f"/api/v1/users/{officer}/password",
        json={"password": NEW_PASSWORD},
        headers=auth_headers(Role.admin),
    )
    assert answer.status_code == 200, answer.text
    assert "hashed_password" not in answer.json()
    assert client.get("/api/v1/auth/me", headers=token).status_code == 401
    assert _login(client).status_code == 401
    assert _login(client, NEW_PASSWORD).status_code == 200
    assert _actions(engine, officer)[-1] == "reset_password"


def test_own_password_change_needs_the_current_one_and_revokes_tokens(client, engine, officer):
    token = _bearer(client)
    wrong = client.post(
        "/api/v1/auth/me/password",
        json={"current_password": "not-it-at-all", "new_password": NEW_PASSWORD},
        headers=token,
    )
    assert wrong.status_code == 422
    assert wrong.json()["problems"][0]["field"] == "current_password"
    answer = client.post(
        "/api/v1/auth/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=token,
    )
    assert answer.status_code == 200, answer.text
    assert client.get("/api/v1/auth/me", headers=token).status_code == 401
    assert _login(client, NEW_PASSWORD).status_code == 200
    assert _actions(engine, officer)[-1] == "change_password"


def test_creating_a_user_is_audited_with_the_acting_admin(client, engine, auth_headers):
    body = {"username": "viewer2", "password": NEW_PASSWORD, "role": "viewer"}
    created = client.post("/api/v1/users", json=body, headers=auth_headers(Role.admin))
    assert created.status_code == 201, created.text
    with Session(engine) as s:
        (entry,) = history(s, "user", created.json()["id"])
    assert (entry.action, entry.actor, entry.data["role"]) == ("create", "admin", "viewer")
    assert NEW_PASSWORD not in str(entry.data)


def test_a_user_bound_to_a_missing_facility_is_404(client, auth_headers):
    body = {"username": "gate9", "password": NEW_PASSWORD, "role": "facility_operator"}
    answer = client.post(
        "/api/v1/users", json={**body, "facility_id": 9999}, headers=auth_headers(Role.admin)
    )
    assert answer.status_code == 404
    assert "$argon2" not in answer.text


def test_the_last_active_admin_cannot_be_disabled_or_demoted(client, engine, auth_headers):
    admin = auth_headers(Role.admin)
    me = client.get("/api/v1/auth/me", headers=admin).json()
    assert client.post(f"/api/v1/users/{me['id']}/disable", headers=admin).status_code == 409
    demote = client.put(f"/api/v1/users/{me['id']}/role", json={"role": "viewer"}, headers=admin)
    assert demote.status_code == 409
    assert _actions(engine, me["id"]) == []


def test_an_unknown_user_is_404(client, auth_headers):
    admin = auth_headers(Role.admin)
    assert client.post("/api/v1/users/9999/disable", headers=admin).status_code == 404
    assert client.get("/api/v1/users/9999", headers=admin).status_code == 404


ACCOUNT_ROUTES = [
    ("POST", "/api/v1/users/{id}/disable", None),
    ("POST", "/api/v1/users/{id}/enable", None),
    ("PUT", "/api/v1/users/{id}/role", {"role": "admin"}),
    ("POST", "/api/v1/users/{id}/password", {"password": NEW_PASSWORD}),
    ("GET", "/api/v1/users/{id}", None),
    ("GET", "/api/v1/users", None),
    ("POST", "/api/v1/users", {"username": "x-new", "password": NEW_PASSWORD, "role": "admin"}),
]
NOT_ADMIN = [Role.permit_officer, Role.enforcement_officer, Role.viewer]


@pytest.mark.parametrize(("method", "path", "body"), ACCOUNT_ROUTES)
def test_only_an_admin_manages_accounts(client, engine, auth_headers, officer, method, path, body):
    url = path.format(id=officer)
    assert client.request(method, url, json=body).status_code == 401
    for role in NOT_ADMIN:
        answer = client.request(method, url, json=body, headers=auth_headers(role))
        assert answer.status_code == 403, f"{role} {method} {url}: {answer.status_code}"
    assert _actions(engine, officer) == ["create"]
    assert client.get("/api/v1/auth/me", headers=_bearer(client)).json()["role"] == "permit_officer"
    admin = client.request(method, url, json=body, headers=auth_headers(Role.admin))
    assert admin.status_code in (200, 201), admin.text
