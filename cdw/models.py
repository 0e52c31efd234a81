"""Every table module, imported once so that SQLModel.metadata is complete (Alembic, tests)."""

from sqlmodel import SQLModel

from cdw.audit import models as audit_models  # noqa: F401
from cdw.auth import models as auth_models  # noqa: F401
from cdw.enforcement import citizen_models  # noqa: F401
from cdw.enforcement import models as enforcement_models  # noqa: F401
from cdw.flags import counts as flag_counts  # noqa: F401
from cdw.flags import models as flag_models  # noqa: F401
from cdw.flows import models as flow_models  # noqa: F401
from cdw.live import models as live_models  # noqa: F401
from cdw.manifests import models as manifest_models  # noqa: F401
from cdw.permits import models as permit_models  # noqa: F401
from cdw.registry import models as registry_models  # noqa: F401
from cdw.tracking import models as tracking_models  # noqa: F401


def all_models() -> type[SQLModel]:
    """``SQLModel`` with every table of cdw in its metadata (this module imports them all)."""
    return SQLModel
