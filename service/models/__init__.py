"""Service models, one module per concern; everything is importable from here."""

from service.models.core import (  # noqa: F401
    DEFAULT_HOURS,
    Category,
    DeadlineRule,
    Department,
    Escalation,
    RequestPhoto,
    ServiceAccess,
    ServiceRequest,
    ServiceStep,
    Severity,
    overdue_q,
)
from service.models.facts import RequestFact, WorkOrderFact  # noqa: F401
from service.models.handover import (  # noqa: F401
    DEFAULT_CHECKLIST,
    HandoverAppointment,
    HandoverBatch,
    HandoverNotice,
    HandoverSlot,
    Inspection,
    InspectionItem,
)
from service.models.knowledge import Article, ArticleUse  # noqa: F401
from service.models.portal import (  # noqa: F401
    MailboxSettings,
    OwnerLetter,
    PortalNotice,
)
from service.models.surveys import (  # noqa: F401
    SurveyAnswer,
    SurveyInvitation,
    SurveyQuestion,
    SurveyReminder,
    SurveyResponse,
    SurveyTemplate,
)
from service.models.work import Chargeback, Contractor, WorkOrder, add_months  # noqa: F401
