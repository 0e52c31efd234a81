"""Manifest changes that reach into enforcement: voiding closes the flags raised on it."""

from __future__ import annotations

from sqlmodel import Session

from cdw.auth.models import User
from cdw.enforcement.review import close_flags_of_void_manifest
from cdw.manifests import services
from cdw.manifests.models import Manifest


def void_manifest(session: Session, manifest: Manifest, actor: User, reason: str) -> Manifest:
    """Void ``manifest`` and close the open flags raised on it with the reason, so that
    re-reconciliation, which skips void manifests, finds them reviewed and keeps them on the
    record."""
    services.void(session, manifest, actor, reason)
    close_flags_of_void_manifest(session, manifest.manifest_no, manifest.plate, actor, reason)
    return manifest
