"""Simulated scenarios: a working day of construction-waste haulage with labelled violations."""

from cdw.scenario.bundle import ScenarioSummary
from cdw.scenario.generate import generate_scenario
from cdw.scenario.violations import ALL_CODES

__all__ = ["ALL_CODES", "ScenarioSummary", "generate_scenario"]
