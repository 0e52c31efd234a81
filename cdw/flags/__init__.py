"""Flags (DESIGN.md §3): codes and labels (``codes``), the pure ``Flag`` value (``values``),
the explanation catalogue (``explain``); the flag table (``models``) and its store (``store``).
The pure modules import nothing of the database."""
