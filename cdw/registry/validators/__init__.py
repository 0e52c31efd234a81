"""Validators for registry fields.

Each ``validate_*`` function returns the normalised value or raises
:class:`~cdw.errors.ValidationFailed` whose problems say, in Chinese and English, everything
that is wrong with the value (a geofence reports all its defects at once). They are plain
functions: the Create/Update models, the bulk importer and other packages call the same ones.
"""

from __future__ import annotations

from cdw.errors import Problem, ValidationFailed


def failed(field: str, zh: str, en: str) -> ValidationFailed:
    """The error for one problem with ``field``, in Chinese and English."""
    return ValidationFailed([Problem(field, zh, en)])
