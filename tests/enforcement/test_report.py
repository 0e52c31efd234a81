"""The printable case report and its inline SVG map."""

from __future__ import annotations

import re
from datetime import timedelta

import polars as pl

from cdw.config import Settings
from cdw.enforcement import cases
from cdw.enforcement.report import SVG_WIDTH, case_report_html, track_svg
from cdw.flags.codes import FlagCode
from cdw.tracking.store import PointStore
from tests.enforcement.world import T0, add_flag, build_world


def test_a_lone_flag_sits_in_the_middle_of_the_map(session, tmp_path):
    world = build_world(session)
    flag = add_flag(session, FlagCode.LONG_STOP, plate=world.vehicle.plate, permit_no=None)
    svg = track_svg(session, PointStore(tmp_path / "none"), [flag], Settings())
    centre = SVG_WIDTH / 2
    assert f'<circle cx="{centre:.1f}" cy="{centre:.1f}"' in svg
    assert "<polyline" not in svg  # no track, no permit route
    # scale bar: a fifth of the 464 m frame (92.8 m) rounded down to 1-2-5 steps: 50 m
    assert f'<rect width="{50 * SVG_WIDTH / 464:.1f}" height="6"' in svg and ">50 m<" in svg
    assert track_svg(session, PointStore(tmp_path / "none"), [], Settings()) == ""


def test_report_of_a_case(session, tmp_path):
    world = build_world(session)
    plate = world.vehicle.plate
    flag = add_flag(session, FlagCode.SUSPECTED_DUMPING, plate=plate, lon=113.58, lat=23.55)
    store = PointStore(tmp_path / "points", timezone="Asia/Shanghai")
    store.append(
        pl.DataFrame(
            {
                "vehicle": [plate] * 3,
                "ts": [T0 + timedelta(minutes=m) for m in (-2, 0, 2)],
                "lon": [113.579, 113.58, 113.581],
                "lat": [23.55, 23.55, 23.5505],
            }
        )
    )
    case = cases.open_case(session, world.officer, [flag.id], "<script>alert(1)</script>")
    cases.add_document(session, case, world.officer, "照片 & 视频", "file:///evidence/1.jpg")
    session.commit()
    page = case_report_html(session, store, case, Settings())
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "照片 &amp; 视频" in page
    assert case.case_no in page and world.haulier.name in page and world.site.name in page
    svg = page.split("<svg", 1)[1].split("</svg>", 1)[0]
    # the track (three points), the route, the corridor and the site fence are drawn
    track = re.search(r'<polyline points="([^"]+)" fill="none" stroke="#0d47a1"', svg)
    assert track is not None and len(track.group(1).split()) == 3
    xs = [float(p.split(",")[0]) for p in track.group(1).split()]
    assert xs == sorted(xs)  # west to east, left to right
    assert 'stroke="#2e7d32"' in svg and 'fill="#c8e6c9"' in svg
    assert "排放工地" in svg
