"""The officer views on the demo day in Chromium: monitoring, replay of a flagged track,
dismissing a flag and opening a case, the case with its parties, and the review queue, a
replay and opening a case on a 390 × 844 phone screen. Each test saves a screenshot."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from tests.web.browser import require_browser, screenshot, wait_until

require_browser()

from tests.web.conftest import log_in  # noqa: E402

PHONE = (390, 844)


def _open_flags(demo_site, **filters) -> list[dict]:
    with demo_site.api("enforce") as api:
        answer = api.get("/enforcement/queue", params={"limit": 500, **filters})
        answer.raise_for_status()
        return answer.json()["data"]


def _replay_hash(flag: dict) -> str:
    start = datetime.fromisoformat(flag["start"]) - timedelta(hours=1)
    end = datetime.fromisoformat(flag["end"]) + timedelta(hours=1)
    query = {"plate": flag["vehicle"], "start": start.isoformat(), "end": end.isoformat()}
    return "#/replay?" + urlencode({**query, "flag": flag["id"]})


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


def test_monitoring_shows_every_truck_of_the_day_and_its_alerts(page_for, demo_site):
    with demo_site.api("enforce") as api:
        day = api.get("/console/settings").json()["latest_day"]
        positions = api.get("/console/positions", params={"day": day}).json()
    assert positions
    page = page_for()
    log_in(page, "enforce", demo_site.password)
    page.goto(f"{demo_site.url}/#/monitoring")
    page.wait_for_selector("#state-counts .state-count")
    assert page.get_attribute("#monitor-source", "data-source") == "fallback"  # no live feed yet
    assert day in page.inner_text("#monitor-source")
    shown = sum(
        int(text.split()[-1])
        for text in page.eval_on_selector_all(
            "#state-counts .state-count", "els => els.map(e => e.textContent.trim())"
        )
    )
    assert shown == len(positions)
    assert page.locator("#alert-list .alert").count() >= 1
    # the push channel (GET /stream) is read with fetch() streaming
    page.wait_for_selector("#stream-state")
    assert page.get_attribute("#stream-state", "data-connected") == "yes"
    # search by plate: the vehicle's popup with its haulier and manifest
    target = positions[0]
    page.fill("#plate-search", target["plate"][-4:])
    page.click("#plate-search-form button[type=submit]")
    popup = page.wait_for_selector(".vehicle-popup")
    assert target["plate"] in popup.inner_text()
    assert (target["haulier_name"] or "") in popup.inner_text()
    screenshot(page, "monitoring")
    page.fill("#plate-search", "粤Z99999")
    page.click("#plate-search-form button[type=submit]")
    assert "未找到该车牌" in page.inner_text("#plate-search-form .error-box")
    assert not page.js_errors


def test_replay_a_flagged_track(page_for, demo_site):
    flags = _open_flags(demo_site, code="TAMPER_SUSPECTED")
    assert flags, "the demo day has a tamper flag"
    flag = flags[0]
    page = page_for()
    log_in(page, "enforce", demo_site.password)
    page.goto(f"{demo_site.url}/{_replay_hash(flag)}")
    page.wait_for_selector("#replay-map[data-ready=yes]")
    selected = page.locator(f".replay-flag[data-flag='{flag['id']}']")
    assert "selected" in (selected.get_attribute("class") or "")
    assert page.locator(".replay-gap").count() >= 1  # the signal was lost: the gap is marked
    assert page.locator(".replay-stop").count() >= 1
    assert "定位点" in page.inner_text("#replay-summary")
    # the cursor starts at the flag, then plays forward
    at_flag = int(page.get_attribute("#replay-readout", "data-index"))
    assert at_flag > 0
    page.select_option("#replay-speed", "300")
    page.click("#replay-play")
    wait_until(page, lambda: int(page.get_attribute("#replay-readout", "data-index")) > at_flag)
    page.click("#replay-play")
    assert page.get_attribute("#replay-play", "data-playing") == "no"
    readout = page.inner_text("#replay-readout")
    assert "km/h" in readout and ("重车" in readout or "空车" in readout)
    screenshot(page, "replay-flagged-track")
    assert not page.js_errors


def test_dismiss_a_flag_then_open_a_case(page_for, demo_site):
    flags = sorted(_open_flags(demo_site), key=lambda f: f["severity"])
    to_dismiss, to_case = flags[0], flags[1]
    page = page_for()
    log_in(page, "enforce", demo_site.password)
    page.goto(f"{demo_site.url}/#/review?flag={to_dismiss['id']}")
    page.wait_for_selector("#evidence-map[data-ready=yes]")
    assert to_dismiss["explanation_zh"] in page.inner_text("#flag-explanation")
    assert to_dismiss["explanation_en"] in page.inner_text("#flag-explanation-other")
    assert page.locator("#flag-values tbody tr").count() >= 1
    # no reason: the API's error, in both languages, next to the field
    page.click("#action-dismiss")
    error = page.wait_for_selector("#review-result .error-box")
    assert "理由" in error.inner_text()
    assert page.locator("#review-actions .field-error[data-field=reason]").count() == 1
    page.fill("#review-reason", "GPS 漂移，现场核实无违规 / GPS drift, checked on site")
    page.click("#action-dismiss")
    page.wait_for_selector("#review-done[data-status=dismissed]")
    screenshot(page, "review-dismissed")
    with demo_site.api("enforce") as api:
        assert api.get(f"/flags/{to_dismiss['id']}").json()["status"] == "dismissed"

    page.goto(f"{demo_site.url}/#/review?flag={to_case['id']}")
    page.wait_for_selector("#evidence-map[data-ready=yes]")
    page.fill("#review-reason", "证据充分 / enough evidence")
    page.click("#action-case")
    done = page.wait_for_selector("#review-done[data-case]")
    case_id = done.get_attribute("data-case")
    page.click("#open-case-link")
    page.wait_for_selector(f"#case-head[data-case='{case_id}']")
    assert page.get_attribute("#case-head", "data-state") == "open"
    parties = page.inner_text("#case-parties")
    assert "#" in parties  # the haulier (一案三查) is named with its id
    assert page.locator(f"#case-detail [data-flag='{to_case['id']}']").count() == 1
    # a decision without penalty and legal basis: both fields named by the API
    page.click("#case-investigate")
    page.wait_for_selector("#case-head[data-state=investigating]")
    page.click("#case-decide")
    page.wait_for_selector("form[data-action=decide] .field-error")
    fields = page.eval_on_selector_all(
        "form[data-action=decide] .field-error", "els => els.map(e => e.dataset.field)"
    )
    assert set(fields) == {"penalty_amount_yuan", "legal_basis"}
    screenshot(page, "case-opened")
    # the printable case report, fetched with the token and handed over as a file
    with page.expect_download() as download:
        page.click("#case-report")
    assert download.value.suggested_filename.endswith(".html")
    report = Path(download.value.path()).read_text(encoding="utf-8")
    assert "<html" in report.lower()
    with demo_site.api("enforce") as api:
        case = api.get(f"/enforcement/cases/{case_id}").json()
    assert case["state"] == "investigating"
    assert [f["id"] for f in case["flags"]] == [to_case["id"]]
    assert not page.js_errors


def test_review_queue_replay_and_open_case_on_a_phone(page_for, demo_site):
    flag = max(_open_flags(demo_site), key=lambda f: f["severity"])
    page = page_for(viewport=PHONE)
    log_in(page, "enforce", demo_site.password)
    page.goto(f"{demo_site.url}/#/review")
    page.wait_for_selector("#review-queue .queue-row")
    assert page.locator("#review-detail").is_hidden()  # one screen at a time
    assert page.locator("#menu").is_hidden()  # the menu folds behind ☰
    _no_sideways_scroll(page)
    screenshot(page, "phone-review-queue")
    page.click(f"#review-queue .queue-row[data-flag='{flag['id']}']")
    page.wait_for_selector("#evidence-map[data-ready=yes]")
    assert page.locator("#review-queue").is_hidden()
    box = page.locator("#evidence-map").bounding_box()
    assert box["width"] <= PHONE[0] and box["height"] >= 200
    _no_sideways_scroll(page)
    screenshot(page, "phone-evidence")
    # open a case with a thumb: the action buttons are reachable and large enough
    page.locator("#action-case").scroll_into_view_if_needed()
    assert page.locator("#action-case").bounding_box()["height"] >= 36
    page.fill("#review-reason", "现场执法 / in the field")
    page.click("#action-case")
    page.wait_for_selector("#review-done[data-case]")
    page.click("#open-case-link")
    page.wait_for_selector("#case-head")
    _no_sideways_scroll(page)
    screenshot(page, "phone-case")
    # the replay of the same flag
    page.goto(f"{demo_site.url}/{_replay_hash(flag)}")
    page.wait_for_selector("#replay-map[data-ready=yes]")
    assert page.locator("#replay-slider").is_visible()
    assert page.locator("#replay-play").is_visible()
    map_box = page.locator("#replay-map").bounding_box()
    assert map_box["height"] >= 200
    _no_sideways_scroll(page)
    screenshot(page, "phone-replay")
    page.click(".menu-toggle")
    assert page.locator("#menu").is_visible()
    assert not page.js_errors


def test_the_review_queue_in_english(page_for, demo_site):
    flag = max(_open_flags(demo_site), key=lambda f: f["severity"])
    page = page_for(lang="en")
    log_in(page, "enforce", demo_site.password)
    assert page.inner_text("#role-label") == "Enforcement officer"
    assert "Review queue" in page.inner_text("#menu")
    page.goto(f"{demo_site.url}/#/review?flag={flag['id']}")
    page.wait_for_selector("#evidence-map[data-ready=yes]")
    assert flag["explanation_en"] in page.inner_text("#flag-explanation")
    assert flag["explanation_zh"] in page.inner_text("#flag-explanation-other")
    assert flag["label_en"] in page.inner_text("#flag-head")
    assert "Dismiss" in page.inner_text("#review-actions")
    screenshot(page, "review-en")
    assert not page.js_errors
