"""The engine's context (pure): distances to the facility fences."""

import numpy as np
import pytest
import shapely

from cdw.tracking.context import AnalysisContext, Zone
from tests.tracking.handbuilt import PROJ, box


def test_facility_distances_match_shapely():
    """0 inside a fence (holes are outside), else the distance to the nearest fence, with
    that facility's index: as shapely measures it, on fixed and random points."""
    ring = box(0, 0, 400, 400).difference(box(100, 100, 300, 300))  # a fence with a hole
    fences = [ring, box(3000, 0, 3200, 200), box(-5000, 8000, -4800, 8300)]
    context = AnalysisContext(
        projector=PROJ,
        facilities=[Zone(id=i + 1, name=f"f{i}", geometry=g) for i, g in enumerate(fences)],
    )
    x0, y0 = fences[0].bounds[:2]  # local (0, 0)
    rng = np.random.default_rng(5)
    # In the fence, in its hole, outside it, nearer the second facility; then random.
    x = np.concatenate(
        ([x0 + 200, x0 + 200, x0 + 500, x0 + 2000], x0 + rng.uniform(-9e3, 9e3, 300))
    )
    y = np.concatenate(([y0 + 50, y0 + 200, y0 + 200, y0 + 100], y0 + rng.uniform(-9e3, 9e3, 300)))
    dist, index = context.facility_distances(x, y)
    points = shapely.points(x, y)
    expected = shapely.distance(np.array(fences)[:, None], points[None, :])
    np.testing.assert_allclose(dist, expected.min(axis=0), atol=1e-9)
    assert (index == expected.argmin(axis=0)).all()
    assert dist[:4].tolist() == pytest.approx([0.0, 100.0, 100.0, 1000.0])
    assert index[:4].tolist() == [0, 0, 0, 1]
    assert context.facility_distance(float(x[3]), float(y[3])) == (pytest.approx(1000.0), 1)
    empty = AnalysisContext(projector=PROJ)
    assert empty.facility_distance(0.0, 0.0) == (float("inf"), -1)


def test_the_context_module_reads_no_database():
    """``cdw.tracking.context`` is plain values: importing it loads no ORM or database code
    (loading the context from the tables is ``cdw.flows.context``)."""
    import subprocess
    import sys

    code = (
        "import sys, cdw.tracking.context; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlmodel', 'sqlalchemy') "
        "or m in ('cdw.db', 'cdw.flows')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
