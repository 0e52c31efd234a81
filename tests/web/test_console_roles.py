"""Log in as each role of the demo: each sees its own menus and no other (the API still
enforces every route; the console only hides what a role could not use)."""

from __future__ import annotations

import pytest

from tests.web.browser import require_browser, screenshot, wait_until

require_browser()

from tests.web.conftest import log_in  # noqa: E402

ALL = {
    "admin",
    "permit_officer",
    "enforcement_officer",
    "facility_operator",
    "site_dispatcher",
    "haulier",
    "viewer",
}
OFFICERS = {"admin", "enforcement_officer"}
TRACK_READERS = {"admin", "permit_officer", "enforcement_officer", "haulier"}
# The officer views of this branch and who may open them (the API's own role lists).
OWN_VIEWS = {
    "monitoring": TRACK_READERS,
    "replay": TRACK_READERS,
    "review": OFFICERS,
    "cases": OFFICERS,
    "account": ALL,
    "reports": OFFICERS,
    "permits": {"admin", "permit_officer"},
    "facility": {"facility_operator"},
    "dispatcher": {"site_dispatcher"},
    "dashboard": {"admin", "permit_officer", "enforcement_officer", "viewer"},
}
DEMO_USERS = {
    "admin": "admin",
    "permit": "permit_officer",
    "enforce": "enforcement_officer",
    "facility": "facility_operator",
    "dispatch": "site_dispatcher",
    "haulier": "haulier",
    "viewer": "viewer",
}


@pytest.mark.parametrize("username", sorted(DEMO_USERS))
def test_each_role_sees_only_its_menus(page_for, demo_site, username):
    role = DEMO_USERS[username]
    page = page_for()
    assert page.locator("#login-form").is_visible()
    log_in(page, username, demo_site.password)
    assert page.get_attribute("#role-label", "data-role") == role
    menus = page.eval_on_selector_all(".menu-item", "items => items.map(i => i.dataset.view)")
    declared = page.evaluate("window.cdw.views")
    roles_of = {v["id"]: set(v["roles"]) for v in declared}
    # every menu entry is a view declared for this role, and every such view is in the menu
    assert all(role in roles_of[m] for m in menus), (role, menus)
    assert set(menus) == {v["id"] for v in declared if role in v["roles"] and v["menu"]}
    # this branch's views: exactly the roles the API lets in
    for view, allowed in OWN_VIEWS.items():
        assert (view in menus) == (role in allowed), (view, role, menus)
    # a view of another role, opened by its address, sends the user home instead
    hidden = [v["id"] for v in declared if role not in v["roles"]]
    if hidden:
        page.goto(f"{demo_site.url}/#/{hidden[0]}")
        wait_until(page, lambda: not page.evaluate("location.hash").startswith(f"#/{hidden[0]}"))
    page.wait_for_timeout(300)
    screenshot(page, f"role-{role}")
    assert not page.js_errors


def test_english_switch_and_log_out(page_for, demo_site):
    page = page_for()
    assert "登录" in page.inner_text("#login-form")
    page.click("#login-form .lang-switch")
    assert "Log in" in page.inner_text("#login-form")
    log_in(page, "viewer", demo_site.password)
    assert page.inner_text("#role-label") == "Viewer"
    page.click("#lang-switch")
    assert page.inner_text("#role-label") == "只读用户"
    page.click("#logout")
    page.wait_for_selector("#login-form")
    assert page.evaluate("sessionStorage.getItem('cdw.token')") is None


def test_a_wrong_password_shows_the_api_error_in_both_languages(page_for, demo_site):
    page = page_for()
    page.fill("#login-form input[name=username]", "viewer")
    page.fill("#login-form input[name=password]", "not-the-password")
    page.click("#login-form button[type=submit]")
    box = page.wait_for_selector(".error-box")
    assert "用户名或密码错误" in box.inner_text()
    assert "Incorrect username or password" in box.inner_text()
    screenshot(page, "login-error")


# Counts the console's Leaflet maps made and removed (page.evaluate reads it; no eval in the page).
MAP_COUNTER = """
document.addEventListener('DOMContentLoaded', () => {
  window.cdwMaps = { made: 0, removed: 0 };
  window.L.Map.addInitHook(function () {
    window.cdwMaps.made += 1;
    this.on('unload', () => (window.cdwMaps.removed += 1));
  });
});
"""


def test_a_view_left_while_it_loads_removes_its_map(page_for, demo_site):
    """Monitoring waits on its positions; the officer opens the dashboard meanwhile. When the
    positions arrive, the monitoring view's map, stream and late content must go, not linger
    behind the dashboard."""
    page = page_for()
    page.add_init_script(MAP_COUNTER)
    page.reload()
    held = []
    page.route("**/api/v1/vehicles/live*", lambda route: held.append(route))
    log_in(page, "admin", demo_site.password)  # home: monitoring
    wait_until(page, lambda: bool(held))
    page.goto(f"{demo_site.url}/#/dashboard")
    wait_until(page, lambda: page.get_attribute("#view", "data-view") == "dashboard")
    for route in held:
        route.continue_()
    wait_until(page, lambda: page.evaluate("window.cdwMaps.made") == 2)
    wait_until(page, lambda: page.evaluate("window.cdwMaps.removed") == 1)
    page.wait_for_timeout(500)
    assert page.evaluate("window.cdwMaps") == {"made": 2, "removed": 1}
    assert page.locator("#view .leaflet-container").count() == 1
    assert page.locator("#monitor-map, #alert-list").count() == 0
    assert not page.js_errors
