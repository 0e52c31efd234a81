"""Live supervision (issue 14, parts 4 and 5): the live engine that evaluates each vehicle's
open trip as its positions arrive (``engine``), the last known position of every vehicle and
the events of the push channel (``models``, ``state``).

A flow-level package, like ``cdw.flows``: it reads the database and runs the engine. The
floor, the domains and the engine import nothing of it (tests/test_architecture.py).
"""
