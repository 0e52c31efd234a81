"""The one list of checks: what the pipeline and the analysis report derive from it."""

import sys

from cdw.flags.codes import FlagCode
from cdw.tracking.analysis import ENGINE_CODES
from cdw.tracking.checks.listing import ENGINE_CHECKS
from cdw.tracking.pipeline import CHECKS, MAY_FLAG


def test_each_check_is_listed_once_with_its_own_code_and_shortcut():
    assert len({c.code for c in ENGINE_CHECKS}) == len({c.check for c in ENGINE_CHECKS}) == 9
    for listed in ENGINE_CHECKS:
        module = sys.modules[listed.check.__module__]
        assert listed.may_flag is getattr(module, "may_flag", None), module.__name__
        name = module.__name__.rsplit(".", 1)[-1]
        expected = FlagCode.TAMPER_SUSPECTED if name == "tamper" else FlagCode[name.upper()]
        assert listed.code == expected


def test_pipeline_and_analysis_derive_from_the_list():
    assert tuple(c.check for c in ENGINE_CHECKS) == CHECKS
    assert tuple(c.code for c in ENGINE_CHECKS) == ENGINE_CODES
    assert {c.check: c.may_flag for c in ENGINE_CHECKS if c.may_flag is not None} == MAY_FLAG
    assert len(MAY_FLAG) == 8  # wrong_destination has no shortcut
