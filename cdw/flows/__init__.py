"""Flows: the only modules that read the database and run the engine (DESIGN.md §6). A day
flow reads the points once, runs the pipeline once, stores the engine's flags and the loaded
legs of the run, and hands those legs to the pure reconciliation."""
