from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm_site.models import Heartbeat

HEALTH = reverse("health")


@pytest.fixture
def fresh_heartbeats(db):
    for component in Heartbeat.Component.values:
        Heartbeat.beat(component)


def test_health_is_green_as_json_when_everything_runs(client, fresh_heartbeats):
    response = client.get(HEALTH, HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "ok"
    assert set(data["components"]) == {"database", "redis", "worker", "beat"}
    assert all(c["status"] == "ok" for c in data["components"].values())


def test_health_page_for_people_needs_no_login(client, fresh_heartbeats):
    response = client.get(HEALTH)
    assert response.status_code == 200
    assert 'data-testid="health-status"' in response.content.decode()


def test_health_is_red_when_the_worker_has_not_been_seen(client, db):
    Heartbeat.beat(Heartbeat.Component.BEAT)
    data = client.get(HEALTH, HTTP_ACCEPT="application/json").json()
    assert data["status"] == "fail"
    assert data["components"]["worker"] == {"status": "fail", "detail": "never seen"}
    assert data["components"]["beat"]["status"] == "ok"


def test_health_is_red_when_beat_stopped_ticking(client, fresh_heartbeats):
    Heartbeat.objects.filter(component="beat").update(
        last_seen=timezone.now() - timedelta(minutes=10)
    )
    response = client.get(HEALTH, HTTP_ACCEPT="application/json")
    assert response.status_code == 503
    assert response.json()["components"]["beat"]["status"] == "fail"


def test_health_is_red_when_redis_is_unreachable(client, fresh_heartbeats, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get(HEALTH, HTTP_ACCEPT="application/json")
    assert response.status_code == 503
    assert response.json()["components"]["redis"]["status"] == "fail"
    assert response.json()["components"]["database"]["status"] == "ok"


def test_health_page_shows_red_for_people_too(client, db):
    response = client.get(HEALTH)
    assert response.status_code == 503
    assert "text-danger" in response.content.decode()
