"""Enforcement: review queue, cases, audit log, credit, hotspots, control lists, statistics."""
