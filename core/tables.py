"""Every SQL table acc defines, imported so they register on `SQLModel.metadata` (for the
migrations' autogenerate and their tests). A new table's module is added here, and a
migration under core/migrations/versions creates it."""

from core.artifacts import Artifact
from core.audit import AuditEvent
from core.auth import ApiKey
from core.receipts import Receipt

__all__ = ["ApiKey", "Artifact", "AuditEvent", "Receipt"]
