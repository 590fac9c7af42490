"""Fixtures for the overview: the marketing fixtures that sign deals, reused."""

from tests.marketing.conftest import building, project, sign  # noqa: F401
