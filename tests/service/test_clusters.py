from __future__ import annotations

from django.urls import reverse

from service.selectors import cluster_of, clusters


def test_three_units_of_a_building_with_one_problem_are_a_cluster(
    make_request, units, building
):
    for n, unit in enumerate(units[:3]):
        make_request(unit=unit, days_ago=n * 5)
    make_request(unit=units[0], days_ago=1)  # the same unit again counts once
    found = clusters()
    assert len(found) == 1
    cluster = found[0]
    assert (cluster.building_id, cluster.category) == (building.pk, "plumbing")
    assert (cluster.units, cluster.requests) == (3, 4)


def test_no_cluster_below_the_threshold_outside_the_window_or_across_categories(
    make_request, units, settings
):
    make_request(unit=units[0])
    make_request(unit=units[1])
    make_request(unit=units[2], days_ago=45)  # outside 30 days
    make_request(unit=units[3], category="electrical")
    make_request(unit=None)
    assert clusters() == []
    settings.SERVICE_CLUSTER_MIN_UNITS = 2
    assert [c.units for c in clusters()] == [2]
    settings.SERVICE_CLUSTER_DAYS = 60
    assert [c.units for c in clusters()] == [3]


def test_a_request_page_says_it_is_part_of_a_cluster(
    client, make_request, units, service_agent
):
    requests = [make_request(unit=unit, days_ago=n) for n, unit in enumerate(units[:4])]
    cluster, others = cluster_of(requests[0])
    assert cluster.units == 4 and set(others) == set(requests[1:])
    client.force_login(service_agent)
    response = client.get(requests[0].get_absolute_url())
    html = response.content.decode()
    assert 'data-testid="cluster-notice"' in html
    assert requests[1].number in html
    listed = client.get(reverse("service:request-list") + "?" + cluster.list_query)
    assert {r.pk for r in listed.context["page"].items} == {r.pk for r in requests}


def test_a_lone_request_has_no_cluster(client, leak, service_agent):
    assert cluster_of(leak) == (None, [])
    client.force_login(service_agent)
    html = client.get(leak.get_absolute_url()).content.decode()
    assert 'data-testid="cluster-notice"' not in html
