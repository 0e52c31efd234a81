"""Web console benchmark: how long the monitoring view takes to load in Chromium on the demo
day (the Panyu road network, every truck of the day and its alerts).

Run: ``.venv/bin/python benchmarks/bench_console.py [--workdir var/bench-console] [--runs 5]``.
Builds the demo day into ``--workdir`` (unless ``--reuse`` and it is there), serves it with
uvicorn on a free port, and opens the console in the system Chromium (Playwright) once per
run with a fresh browser context (empty cache): log-in is done through the API beforehand, so
each run times a cold page load of ``/#/monitoring`` up to the moment the trucks, their
counts and the alert list are drawn, and separately until the road layer (when the API has
one) has drawn. Prints each run and the median in seconds; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cdw.cli.demo import demo_environment  # noqa: E402
from cdw.demo import DEFAULT_BUNDLE, DEMO_PASSWORD, bundle_road_network, run_demo  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, **demo_environment(workdir, bundle_road_network(DEFAULT_BUNDLE))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "cdw.api.app:app", "--port", str(port),
         "--log-level", "warning"],
        env=env, cwd=ROOT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/", timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.5)
    server.terminate()
    raise SystemExit("uvicorn did not answer within 180 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench-console")
    parser.add_argument("--reuse", action="store_true", help="keep a demo already built there")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--viewport", default="1366x860")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    if not (args.reuse and (args.workdir / "cdw.db").exists()):
        started = time.perf_counter()
        run_demo(DEFAULT_BUNDLE, args.workdir, Console(file=io.StringIO(), width=160))
        print(f"demo day built in {time.perf_counter() - started:.1f} s")
    server, url = serve(args.workdir)
    width, height = (int(x) for x in args.viewport.split("x"))
    try:
        token = httpx.post(
            f"{url}/api/v1/auth/token", data={"username": "enforce", "password": DEMO_PASSWORD}
        ).json()["access_token"]
        # The server's first road-layer request builds the simplified layers of the network
        # (once per process): timed apart, so the runs measure a warm server.
        warm = time.perf_counter()
        roads_route = httpx.get(
            f"{url}/api/v1/map/roads",
            params={"bbox": "113.2,22.8,113.6,23.1", "zoom": 12},
            headers={"Authorization": f"Bearer {token}"},
            timeout=300,
        ).status_code
        warm_up_s = time.perf_counter() - warm
        print(f"first road-layer request (builds the layers): {warm_up_s:.1f} s, {roads_route}")
        loads, with_roads, in_page = [], [], []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for run in range(args.runs):
                context = browser.new_context(viewport={"width": width, "height": height})
                context.add_init_script(f"sessionStorage.setItem('cdw.token', '{token}')")
                page = context.new_page()
                roads_done = []
                page.on(
                    "response",
                    lambda r, done=roads_done: (
                        "/api/v1/map/roads" in r.url
                        and r.status == 200
                        and done.append(time.perf_counter())
                    ),
                )
                started = time.perf_counter()
                page.goto(f"{url}/#/monitoring")
                page.wait_for_selector("#state-counts .state-count", timeout=60_000)
                page.wait_for_selector("#alert-list .alert", timeout=60_000)
                loaded = time.perf_counter() - started
                page.wait_for_timeout(300)
                dom_ready = page.evaluate(
                    "(() => { const n = performance.getEntriesByType('navigation')[0];"
                    " return n.domContentLoadedEventEnd / 1000; })()"
                )
                markers = page.locator("#state-counts .state-count").count()
                drawn_in_page = page.evaluate(
                    "performance.getEntriesByName('cdw:monitoring-drawn')[0].startTime / 1000"
                )
                in_page.append(drawn_in_page)
                api_ends = page.evaluate(
                    "performance.getEntriesByType('resource')"
                    ".filter(r => r.name.includes('/api/v1/'))"
                    ".map(r => [new URL(r.name).pathname.replace('/api/v1/', ''),"
                    " Math.round(r.startTime), Math.round(r.responseEnd)])"
                )
                loads.append(loaded)
                if roads_done:
                    with_roads.append(roads_done[0] - started)
                print(
                    f"run {run + 1}: monitoring view drawn in {loaded:.3f} s"
                    + f" (in the page's own clock {drawn_in_page:.3f} s;"
                    + f" page and scripts ready at {dom_ready:.3f} s)"
                    + (
                        f", road layer answered at {roads_done[0] - started:.3f} s"
                        if roads_done
                        else ""
                    )
                    + f" ({markers} state groups)"
                )
                print(
                    "    api (start-end ms): "
                    + ", ".join(f"{name} {a}-{b}" for name, a, b in api_ends if b)
                )
                context.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    figures = {
        "runs": args.runs,
        "viewport": args.viewport,
        "monitoring_load_s_median": round(statistics.median(loads), 3),
        "monitoring_load_s_max": round(max(loads), 3),
        "monitoring_drawn_in_page_s_median": round(statistics.median(in_page), 3),
        "road_layer_route_status": roads_route,
        "road_layer_first_request_s": round(warm_up_s, 1),
        "road_layer_s_median": round(statistics.median(with_roads), 3) if with_roads else None,
    }
    print(
        f"monitoring view: median {figures['monitoring_load_s_median']} s "
        f"(page clock {figures['monitoring_drawn_in_page_s_median']} s), "
        f"max {figures['monitoring_load_s_max']} s over {args.runs} cold loads"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
