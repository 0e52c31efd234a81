"""The permit, facility, dispatcher, dashboard and citizen-report views in Chromium on the
demo day: a permit route proposed, edited and approved; a receipt confirmed and a second,
concurrent confirmation refused (409) plainly; a citizen report placed where the labelled
dumping happened answering that truck first. Each test saves a screenshot."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from urllib.parse import unquote

import polars as pl

from tests.web.browser import require_browser, screenshot, wait_until

require_browser()

from cdw.demo import DEFAULT_BUNDLE  # noqa: E402
from tests.web.conftest import log_in  # noqa: E402


def _dumping_label() -> dict:
    truth = json.loads((DEFAULT_BUNDLE / "ground_truth.json").read_text(encoding="utf-8"))
    return next(lb for lb in truth if lb["code"] == "SUSPECTED_DUMPING" and not lb.get("near_miss"))


def _dumping_place(label: dict) -> tuple[float, float]:
    """Where the labelled truck stood: the median of its fixes in the labelled span."""
    start, end = datetime.fromisoformat(label["start"]), datetime.fromisoformat(label["end"])
    tracks = pl.read_csv(DEFAULT_BUNDLE / "tracks.csv").filter(pl.col("plate") == label["plate"])
    times = tracks["ts"].str.to_datetime(time_zone="UTC")
    there = tracks.filter((times >= start.astimezone(UTC)) & (times <= end.astimezone(UTC)))
    return float(there["lon"].median()), float(there["lat"].median())


def test_a_citizen_report_finds_the_truck_that_dumped_there(page_for, demo_site):
    label = _dumping_label()
    lon, lat = _dumping_place(label)
    day = datetime.fromisoformat(label["start"]).date().isoformat()

    page = page_for()
    log_in(page, "enforce", demo_site.password)
    page.goto(f"{demo_site.url}/#/reports")
    page.wait_for_selector("#report-form")
    page.fill("#report-lon", f"{lon:.6f}")
    page.fill("#report-lat", f"{lat:.6f}")
    page.fill("#report-start", f"{day}T06:00")
    page.fill("#report-end", f"{day}T14:00")
    page.fill("#report-radius", "200")
    page.fill("#report-notes", "群众举报：路边有泥头车倾倒渣土")
    page.click("#report-submit")
    page.wait_for_selector("#report-trucks tr.truck-row")
    rows = page.locator("#report-trucks tr.truck-row")
    first = rows.first
    assert first.get_attribute("data-plate") == label["plate"]
    assert first.get_attribute("data-rank") == "1"
    assert "在此停留" in first.inner_text()
    assert rows.count() >= 2  # the others that passed, ranked after it
    screenshot(page, "webapi-citizen-report")
    first.locator(".replay-link").click()
    wait_until(page, lambda: "#/replay" in page.url and label["plate"] in unquote(page.url))
    assert not page.js_errors, page.js_errors


def _vertex_centre(page, index: int) -> tuple[float, float]:
    """A route point's centre on the screen (scrolled into view first)."""
    vertex = page.locator(f'[data-vertex="{index}"]')
    vertex.scroll_into_view_if_needed()
    box = vertex.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def _vertex_on_map(page, index: int) -> tuple[float, float]:
    """A route point's position within the map (the page may scroll while dragging)."""
    box = page.locator(f'[data-vertex="{index}"]').bounding_box()
    frame = page.locator("#permit-map").bounding_box()
    return box["x"] - frame["x"], box["y"] - frame["y"]


def test_a_permit_route_is_proposed_edited_checked_and_approved(page_for, demo_site):
    with demo_site.api("permit") as api:
        facility = api.get("/facilities", params={"limit": 500}).json()["data"][0]
        vehicles = [
            v["plate"]
            for v in api.get("/vehicles", params={"limit": 500}).json()["data"]
            if v["status"] == "active"
            and v["inspection_valid_until"] >= (date.today() + timedelta(days=60)).isoformat()
        ]
    page = page_for()
    log_in(page, "permit", demo_site.password)
    page.goto(f"{demo_site.url}/#/permits?new=1")
    page.wait_for_selector("#application-form")
    page.select_option("#app-facility", str(facility["id"]))
    page.check(f'#app-categories input[value="{facility["accepted_categories"][0]}"]')
    page.fill("#app-volume", "5000")
    today = date.today()
    page.fill("#app-from", today.isoformat())
    page.fill("#app-to", (today + timedelta(days=60)).isoformat())
    page.fill("#app-vehicles", ", ".join(vehicles[:2]))

    # submitted without a route: the API's field error is shown on the form
    page.click("#app-submit")
    page.wait_for_selector("#application-form .error-box")

    page.click("#route-propose")
    page.wait_for_selector("#route-proposals .proposal", timeout=120_000)
    page.click('#route-proposals .proposal[data-rank="1"]')
    page.wait_for_selector('[data-vertex="3"]')
    x, y = _vertex_centre(page, 3)
    page.mouse.move(x, y)
    for _ in range(3):  # zoom in around the point (a drag of a few pixels stays on its road)
        page.mouse.wheel(0, -240)
        page.wait_for_timeout(400)
    x, y = _vertex_centre(page, 3)
    before = _vertex_on_map(page, 3)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 5, y + 4, steps=5)
    page.mouse.up()
    after = _vertex_on_map(page, 3)
    assert abs(after[0] - before[0] - 5) < 2 and abs(after[1] - before[1] - 4) < 2  # dragged
    page.click("#route-check-btn")
    page.wait_for_selector("#route-ok, #route-refused", timeout=120_000)  # a cold matcher
    assert page.locator("#route-ok").count() == 1, page.inner_text("#route-check")
    page.click("#app-submit")
    page.wait_for_selector('#permit-info[data-status="submitted"]')
    page.fill("#decision-reason", "路线经校验可行，同意")
    page.click("#permit-approve")
    page.wait_for_selector('#permit-info[data-status="approved"]')
    screenshot(page, "webapi-permit-approved")
    assert not page.js_errors, page.js_errors


def test_a_receipt_is_confirmed_and_a_second_confirmation_refused(page_for, demo_site):
    password = demo_site.password  # demo_site.api() logs in with it
    username = f"weighbridge{datetime.now().microsecond}"
    with demo_site.api("admin") as api:
        facility = next(
            f for f in api.get("/facilities", params={"limit": 500}).json()["data"]
            if f["code"] == "PY-F002"
        )  # fmt: skip
        made = api.post(
            "/users",
            json={
                "username": username,
                "full_name": "地磅员",
                "role": "facility_operator",
                "facility_id": facility["id"],
                "password": password,
            },
        )
        assert made.status_code == 201, made.text
    with demo_site.api(username) as api:
        expected = api.get("/manifests/expected").json()["data"]
    assert expected, "the demo day leaves manifests unreceived at PY-F002"
    manifest = expected[0]

    pages = []
    for _ in range(2):  # two operators at one weighbridge, both with the manifest open
        page = page_for()
        log_in(page, username, password)
        page.goto(f"{demo_site.url}/#/facility?manifest={manifest['id']}")
        page.wait_for_selector("form.receipt-form")
        page.fill("form.receipt-form input[name=received_volume_m3]", "10.5")
        page.fill("form.receipt-form input[name=weighbridge_t]", "14.2")
        pages.append(page)
    first, second = pages
    first.click("form.receipt-form button[type=submit]")
    first.wait_for_selector("#receipt-done p.ok")
    screenshot(first, "webapi-receipt-confirmed")
    second.click("form.receipt-form button[type=submit]")
    second.wait_for_selector("#receipt-conflict")
    assert second.locator(".error-box").get_attribute("data-status") == "409"
    assert "他人" in second.inner_text("#receipt-conflict")
    screenshot(second, "webapi-receipt-conflict")
    assert not first.js_errors and not second.js_errors


def test_the_dispatcher_sees_each_refusal_and_the_dashboard_its_figures(page_for, demo_site):
    page = page_for()
    log_in(page, "dispatch", demo_site.password)
    page.goto(f"{demo_site.url}/#/dispatcher")
    page.wait_for_selector("#gate-form")
    plate = page.locator("#gate-plates option").first.get_attribute("value")
    page.fill("#gate-plate", plate)
    page.fill("#gate-volume", "40")  # far over a truck's rated volume
    page.click("#gate-check")
    page.wait_for_selector("#gate-refused, #gate-ok")
    assert page.locator("#gate-refused").count() == 1
    reasons = page.locator("#gate-refusals li, #gate-verdict .error-box")
    assert reasons.count() >= 1 and reasons.first.inner_text().strip()
    page.fill("#gate-plate", "粤A99999")  # no such vehicle: refused too, with its reason
    page.click("#gate-issue")
    page.wait_for_selector("#gate-verdict .error-box")
    screenshot(page, "webapi-gate-refused")

    viewer = page_for()
    log_in(viewer, "viewer", demo_site.password)
    viewer.goto(f"{demo_site.url}/#/dashboard?from=2026-11-20&to=2026-11-20")
    viewer.wait_for_selector('#dash-kpis [data-kpi="manifests_issued"]')
    issued = viewer.inner_text('#dash-kpis [data-kpi="manifests_issued"] strong')
    assert int(issued.replace(",", "")) > 0
    viewer.wait_for_selector("#dash-flag-table")
    viewer.wait_for_selector('#dash-lists [data-list="hauliers"] .export')
    screenshot(viewer, "webapi-dashboard")
    assert not page.js_errors and not viewer.js_errors


def test_a_citizen_report_is_entered_on_a_phone(page_for, demo_site):
    """In the field: the report form and its ranked answer on a 390 px touch screen."""
    label = _dumping_label()
    start = datetime.fromisoformat(label["start"])
    page = page_for(viewport=(390, 844))
    log_in(page, "enforce", demo_site.password)
    page.goto(f"{demo_site.url}/#/reports")
    page.wait_for_selector("#report-form")
    page.tap("#report-map")  # a tap on the map places the report
    assert page.input_value("#report-lon") and page.input_value("#report-lat")
    lon, lat = _dumping_place(label)
    page.fill("#report-lon", f"{lon:.6f}")
    page.fill("#report-lat", f"{lat:.6f}")
    day = start.date().isoformat()
    page.fill("#report-start", f"{day}T07:00")
    page.fill("#report-end", f"{day}T10:00")
    page.click("#report-submit")
    page.wait_for_selector("#report-trucks tr.truck-row")
    assert (
        page.locator("#report-trucks tr.truck-row").first.get_attribute("data-plate")
        == (label["plate"])
    )
    page.locator("#report-trucks").scroll_into_view_if_needed()
    screenshot(page, "webapi-citizen-report-phone")
    assert not page.js_errors, page.js_errors
