"""Service models, one module per concern; everything is importable from here."""

from service.models.core import (  # noqa: F401
    DEFAULT_HOURS,
    Category,
    DeadlineRule,
    Department,
    Escalation,
    ServiceAccess,
    ServiceRequest,
    ServiceStep,
    Severity,
)
