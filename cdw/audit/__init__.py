"""The audit log (foundation, below every domain): who changed what, when and why, in an
append-only hash chain. The table in ``models``, appending and verifying in ``log``."""
