"""Simulated scenarios: a working day of construction-waste haulage with labelled violations."""

from cdw.scenario.generate import ALL_CODES, ScenarioSummary, generate_scenario

__all__ = ["ALL_CODES", "ScenarioSummary", "generate_scenario"]
