"""GeoJSON, GPX and Parquet readers, and format dispatch."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cdw.errors import InputFileError
from cdw.tracking.io import read_points

T0 = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)


def dump(tmp_path: Path, doc: Any, name: str = "track.geojson") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False))
    return path


def point(lon: Any, lat: Any, time: Any, **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"time": time, **props},
    }


# ------------------------------------------------------------------ GeoJSON


def test_geojson_points(tmp_path: Path) -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            point(
                113.2, 23.1, "2024-05-01T08:00:00+08:00", plate="粤A12345", speed_kmh=30, status=768
            ),
            point(113.3, 23.2, 1714521610, plate="粤A12345", heading=45.5, alarm=1),
        ],
    }
    result = read_points(dump(tmp_path, doc))
    assert result.rejects == []
    assert result.points.select(
        "vehicle", "ts", "lon", "lat", "speed_kmh", "heading", "status", "alarm"
    ).rows() == [
        ("粤A12345", T0, 113.2, 23.1, 30.0, None, 768, None),
        ("粤A12345", datetime(2024, 5, 1, 0, 0, 10, tzinfo=UTC), 113.3, 23.2, None, 45.5, None, 1),
    ]


def test_geojson_linestring_with_times(tmp_path: Path) -> None:
    doc = {
        "type": "Feature",
        "properties": {
            "plate": "粤A12345D",
            "times": ["2024-05-01T00:00:00Z", "2024-05-01T00:00:10Z", "2024-05-01T00:00:20Z"],
        },
        "geometry": {
            "type": "LineString",
            "coordinates": [[113.2, 23.1], [113.21, 23.11, 5.0], [113.22, 23.12]],
        },
    }
    result = read_points(dump(tmp_path, doc))
    assert result.rejects == []
    assert result.points["lon"].to_list() == [113.2, 113.21, 113.22]
    assert result.points["ts"].dt.second().to_list() == [0, 10, 20]
    assert result.points["vehicle"].unique().to_list() == ["粤A12345D"]


def test_geojson_multilinestring_coord_times_and_coordinate_properties(tmp_path: Path) -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"coordTimes": [[1714521600, 1714521601], [1714521602]]},
                "geometry": {
                    "type": "MultiLineString",
                    "coordinates": [[[113.0, 23.0], [113.1, 23.0]], [[113.2, 23.0]]],
                },
            },
            {
                "type": "Feature",
                "properties": {
                    "vehicle": "粤B12345",
                    "coordinateProperties": {"times": [1714521700]},
                },
                "geometry": {"type": "LineString", "coordinates": [[113.3, 23.0]]},
            },
        ],
    }
    result = read_points(dump(tmp_path, doc), vehicle="粤A12345")
    assert result.rejects == []
    assert result.points["vehicle"].to_list() == ["粤A12345"] * 3 + ["粤B12345"]
    assert result.points["lon"].to_list() == [113.0, 113.1, 113.2, 113.3]


def test_geojson_rejects_name_feature_and_point(tmp_path: Path) -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            point(113.2, 23.1, "2024-05-01T08:00:00+08:00", plate="粤A12345"),  # 0 good
            {  # 1: NaN latitude at vertex 1
                "type": "Feature",
                "properties": {"plate": "粤A12345", "times": [1714521600, 1714521610]},
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[113.2, 23.1], [113.3, float("nan")]],
                },
            },
            {  # 2: times do not match vertices
                "type": "Feature",
                "properties": {"plate": "粤A12345", "times": [1714521600]},
                "geometry": {"type": "LineString", "coordinates": [[113.2, 23.1], [113.3, 23.2]]},
            },
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Polygon", "coordinates": []},
            },  # 3
            point(113.2, 23.1, "2024-05-01T08:00:00+08:00"),  # 4: no plate anywhere
            {  # 5: line without times
                "type": "Feature",
                "properties": {"plate": "粤A12345"},
                "geometry": {"type": "LineString", "coordinates": [[113.2, 23.1]]},
            },
        ],
    }
    result = read_points(dump(tmp_path, doc))
    assert [(r.line, r.field) for r in result.rejects] == [
        (1, "lat"),
        (2, "geometry"),
        (3, "geometry"),
        (4, "plate"),
        (5, "geometry"),
    ]
    assert result.rejects[0].en == "latitude is NaN (point 1)"
    assert result.rejects[0].zh == "纬度为 NaN（第 1 个点）"
    assert "Polygon" in result.rejects[2].en
    assert "per-vertex times" in result.rejects[4].en
    # the good vertex of feature 1 is kept: rejects are per point
    assert result.points["lon"].to_list() == [113.2, 113.2]
    assert result.rejected_rows == 5


def test_geojson_syntax_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.geojson"
    path.write_text('{"type": "FeatureCollection",\n "features": [\n  {"type": "Feature",,}\n]}')
    with pytest.raises(InputFileError) as err:
        read_points(path)
    assert err.value.extra["line"] == 3
    with pytest.raises(InputFileError, match="not a GeoJSON FeatureCollection"):
        read_points(dump(tmp_path, {"type": "Point", "coordinates": [1, 2]}, "geom.json"))


# ------------------------------------------------------------------ GPX

GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"
     xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v2">
  <trk>
    <name>粤A12345</name>
    <trkseg>
      <trkpt lat="23.1" lon="113.2">
        <ele>12</ele>
        <time>2024-05-01T00:00:00Z</time>
        <extensions><gpxtpx:TrackPointExtension><gpxtpx:speed>10</gpxtpx:speed>
        <gpxtpx:course>45</gpxtpx:course></gpxtpx:TrackPointExtension></extensions>
      </trkpt>
      <trkpt lat="23.2" lon="113.3"><time>2024-05-01T08:00:05+08:00</time></trkpt>
      <trkpt lat="23.3" lon="113.4"></trkpt>
      <trkpt lat="95" lon="113.4"><time>2024-05-01T00:00:15Z</time></trkpt>
    </trkseg>
  </trk>
  <trk>
    <trkseg>
      <trkpt lat="30.0" lon="120.0"><time>2024-05-01T00:00:00Z</time></trkpt>
    </trkseg>
  </trk>
</gpx>
"""


def test_gpx_track_points(tmp_path: Path) -> None:
    path = tmp_path / "track.gpx"
    path.write_text(GPX)
    result = read_points(path, vehicle="浙A12345")
    assert result.points.select("vehicle", "ts", "lon", "lat", "speed_kmh", "heading").rows() == [
        ("粤A12345", T0, 113.2, 23.1, 36.0, 45.0),
        ("粤A12345", datetime(2024, 5, 1, 0, 0, 5, tzinfo=UTC), 113.3, 23.2, None, None),
        ("浙A12345", T0, 120.0, 30.0, None, None),  # unnamed track: the vehicle argument
    ]
    assert [(r.line, r.field) for r in result.rejects] == [(14, "ts"), (15, "lat")]
    assert result.rejects[0].en == "missing timestamp"


def test_gpx_without_any_vehicle_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "track.gpx"
    path.write_text(GPX.replace("<name>粤A12345</name>", ""))
    result = read_points(path)
    assert {r.field for r in result.rejects} >= {"plate"}
    assert result.points.height == 0


def test_malformed_gpx_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.gpx"
    path.write_text("<gpx>\n<trk>\n<trkpt lat='1' lon='2'>\n</trk>\n</gpx>\n")
    with pytest.raises(InputFileError) as err:
        read_points(path)
    assert err.value.extra["line"] == 4
    assert "malformed XML" in err.value.en


# ------------------------------------------------------------------ Parquet


def test_parquet_points_frame(tmp_path: Path) -> None:
    path = tmp_path / "points.parquet"
    pl.DataFrame(
        {
            "vehicle": ["粤A12345", "粤A12345"],
            "ts": [T0, datetime(2024, 5, 1, 0, 0, 10, tzinfo=UTC)],
            "lon": [113.2, 113.3],
            "lat": [23.1, float("nan")],
            "status": [768, 0],
        }
    ).write_parquet(path)
    result = read_points(path)
    assert result.points.select("vehicle", "ts", "lon", "lat", "status").rows() == [
        ("粤A12345", T0, 113.2, 23.1, 768)
    ]
    assert [(r.line, r.field) for r in result.rejects] == [(1, "lat")]
    assert '"lat": NaN' in result.rejects[0].raw


def test_parquet_naive_epoch_and_text_columns(tmp_path: Path) -> None:
    naive = tmp_path / "naive.parquet"
    pl.DataFrame(
        {"plate": ["粤A12345"], "ts": [datetime(2024, 5, 1, 8)], "lon": [113.2], "lat": [23.1]}
    ).write_parquet(naive)
    assert [r.field for r in read_points(naive).rejects] == ["ts"]
    assert read_points(naive, tz="Asia/Shanghai").points["ts"].to_list() == [T0]
    epoch = tmp_path / "epoch.parquet"
    pl.DataFrame(
        {"plate": ["粤A12345"], "ts": [1714521600], "lon": ["113.2"], "lat": ["23.1"]}
    ).write_parquet(epoch)
    assert read_points(epoch).points.row(0)[:4] == ("粤A12345", T0, 113.2, 23.1)
    no_plate = tmp_path / "noplate.parquet"
    pl.DataFrame({"ts": [1714521600], "lon": [113.2], "lat": [23.1]}).write_parquet(no_plate)
    assert read_points(no_plate, vehicle="粤A12345").points["vehicle"].to_list() == ["粤A12345"]
    with pytest.raises(InputFileError, match="missing required column"):
        read_points(no_plate)


def test_parquet_garbage_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputFileError, match="cannot read Parquet"):
        read_points(path)


# ------------------------------------------------------------------ dispatch


def test_format_by_extension_or_argument(tmp_path: Path) -> None:
    path = tmp_path / "track.txt"
    path.write_text("plate,ts,lon,lat\n粤A12345,1714521600,113.2,23.1\n")
    with pytest.raises(InputFileError, match="--format"):
        read_points(path)
    assert read_points(path, fmt="csv").points.height == 1
    with pytest.raises(InputFileError, match="unknown format: kml"):
        read_points(path, fmt="kml")
    with pytest.raises(InputFileError, match="file not found"):
        read_points(tmp_path / "missing.csv")


def test_parquet_read_in_batches_equals_whole(tmp_path: Path) -> None:
    path = tmp_path / "points.parquet"
    pl.DataFrame(
        {
            "plate": ["粤A12345", "粤B12345", None, "粤A12345", "粤A1234I", "粤B12345", "粤A12345"],
            "ts": [1714521600 + 10 * i for i in range(7)],
            "lon": [113.2, 113.3, 113.2, 200.0, 113.2, 113.3, 113.2],
            "lat": [23.1] * 7,
        }
    ).write_parquet(path, row_group_size=3)
    whole = read_points(path)
    assert [(r.line, r.field) for r in whole.rejects] == [(2, "plate"), (3, "lon"), (4, "plate")]
    assert '"lon": 200.0' in whole.rejects[1].raw
    for chunk_rows in (1, 2, 4):
        chunked = read_points(path, chunk_rows=chunk_rows)
        assert chunked.points.equals(whole.points)
        assert chunked.rejects == whole.rejects
