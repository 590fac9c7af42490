"""Fixtures shared by the sales tests."""

from __future__ import annotations

import pytest

from sales.models import Project, SelectionSession
from tests.factories import CustomerFactory
from tests.opening_fixtures import enter, make_deposit, make_session, opening_project

ONLINE = SelectionSession.Mode.ONLINE


@pytest.fixture
def online(consultant, sales_manager):
    """An open first-come online session of 10 units with two buyers entered."""
    project, units = opening_project()
    session = make_session(
        project=project,
        created_by=sales_manager,
        mode=ONLINE,
        order=SelectionSession.Order.FIRST_COME,
    )
    buyer = CustomerFactory(name="钱买家", assigned_consultant=consultant)
    rival = CustomerFactory(name="孙对手", assigned_consultant=consultant)
    entry = enter(
        session, make_deposit(project=project, consultant=consultant, customer=buyer)
    )
    rival_entry = enter(
        session, make_deposit(project=project, consultant=consultant, customer=rival)
    )
    return session, units, entry, rival_entry


# Two teams selling different projects (the sales desk's team-project scope).
@pytest.fixture
def our_project(team):
    project = Project.objects.create(name="安居·御景湾")
    project.teams.add(team)
    return project


@pytest.fixture
def their_project(other_team):
    project = Project.objects.create(name="安居·江南府")
    project.teams.add(other_team)
    return project
