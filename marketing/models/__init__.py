"""Marketing models, one module per concern; everything is importable from here."""

from marketing.models.access import MarketingAccess  # noqa: F401
