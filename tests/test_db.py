"""The JSON text of a database column (``cdw.db.json_text``): an array's by orjson decodes
to the very values json.dumps writes."""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cdw.db import json_text

finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(0, 30), st.just(2)), elements=finite))
def test_an_arrays_text_decodes_to_its_values(values: np.ndarray) -> None:
    text = json_text(values)
    assert json.loads(text) == json.loads(json.dumps(values.tolist())) == values.tolist()
    signs = [math.copysign(1.0, v) for v in np.ravel(json.loads(text) or [[0.0, 0.0]])]
    assert signs == [math.copysign(1.0, v) for v in np.ravel(values.tolist() or [[0.0, 0.0]])]


def test_hand_picked_values_and_what_orjson_cannot_write() -> None:
    values = np.array([[113.4258375, 22.9000945], [-0.0, 1e-7], [5e-324, 1.7976931348623157e308]])
    assert json.loads(json_text(values)) == values.tolist()
    assert json.loads(json_text(values[:, 1])) == values[:, 1].tolist()  # not contiguous
    # NaN and infinities as json.dumps writes them (orjson would write null)
    odd = np.array([[math.nan, math.inf], [-math.inf, 1.5]])
    assert json_text(odd) == json.dumps(odd.tolist())
    # anything but an array: json.dumps
    plain = {"type": "Point", "coordinates": [113.4, 22.9], "名": "消纳场"}
    assert json_text(plain) == json.dumps(plain)
