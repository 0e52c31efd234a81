"""The password policy: minimum length, the common-password list, the username."""

from __future__ import annotations

import pytest

from cdw.auth.models import Role
from cdw.auth.passwords import common_passwords, password_problems

MIN = 10


def _rules(password: str, username: str = "zhangwei") -> list[str]:
    return [p.en for p in password_problems(password, username, MIN)]


def test_the_bundled_list_holds_thousands_of_common_passwords():
    assert len(common_passwords()) >= 9_000
    assert {"12345678", "password", "qwerty", "iloveyou"} <= common_passwords()


@pytest.mark.parametrize("password", ["1234567890", "qwertyuiop", "QwErTyUiOp", "PASSWORD"])
def test_common_passwords_are_refused_whatever_their_case(password):
    assert any("most common" in rule for rule in _rules(password))


@pytest.mark.parametrize(
    "password", ["zhangwei", "ZhangWei2024!", "my-zhangwei-pw", "iewgnahz-reversed"]
)
def test_passwords_from_the_username_are_refused(password):
    assert any("username" in rule for rule in _rules(password))


def test_a_short_password_is_refused_with_the_minimum_in_both_languages():
    (problem,) = password_problems("Gr4v3l!", "zhangwei", MIN)
    assert "10" in problem.zh and "10" in problem.en


def test_a_long_unusual_password_passes():
    assert _rules("Gravel-Lorry-77") == []


def test_the_api_refuses_a_weak_password_naming_every_rule(client, auth_headers):
    admin = auth_headers(Role.admin)
    body = {"username": "officer12345678", "password": "12345678", "role": "viewer"}
    answer = client.post("/api/v1/users", json=body, headers=admin)
    assert answer.status_code == 422
    problems = answer.json()["problems"]
    assert [p["field"] for p in problems] == ["password"] * 3
    assert all(p["zh"] and p["en"] for p in problems)
    body = {"username": "lorry", "password": "lorry-lorry-lorry", "role": "viewer"}
    assert client.post("/api/v1/users", json=body, headers=admin).status_code == 422
