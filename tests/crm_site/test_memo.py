"""The page header is rendered once per process ({% memo %} in base.html): what it shows
must still be each user's, each request's and each language's."""

from __future__ import annotations

import re

from django.template import Context, Template
from django.urls import reverse

from crm_site.notifications import notify

NEXT = re.compile(r'name="next" value="([^"]*)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]*)"')


def _header(body: str) -> str:
    return body[body.index("<nav") : body.index("</nav>")]


def test_each_user_sees_their_own_name_roles_and_menu(
    client, consultant, service_agent
):
    client.force_login(consultant)
    first = _header(client.get(reverse("customers:customer-list")).content.decode())
    client.force_login(service_agent)
    second = _header(client.get(reverse("customers:customer-list")).content.decode())
    assert consultant.display_name in first and consultant.role_labels in first
    assert service_agent.display_name in second
    assert consultant.display_name not in second
    assert reverse("sales:my-day") in first and reverse("sales:my-day") not in second


def test_the_token_and_the_path_are_each_requests_own(client, consultant):
    client.force_login(consultant)
    url = reverse("customers:customer-list")
    first = client.get(url, {"q": "王&1"}).content.decode()
    second = client.get(url, {"q": "李"}).content.decode()
    assert NEXT.findall(first) == [f"{url}?q=%E7%8E%8B%261"]
    assert NEXT.findall(second) == [f"{url}?q=%E6%9D%8E"]
    token = client.cookies["csrftoken"].value
    # Every form in the header carries a token of this session (masked anew per page).
    tokens = CSRF.findall(_header(second))
    assert len(tokens) == 2 and all(len(t) == 64 for t in tokens)
    assert "memo0" not in first + second
    client.cookies["csrftoken"] = token
    response = client.post(reverse("logout"), {"csrfmiddlewaretoken": tokens[-1]})
    assert response.status_code == 302


def test_the_active_item_the_bell_and_the_language_follow_the_page(client, consultant):
    client.force_login(consultant)
    home = _header(client.get(reverse("sales:my-day")).content.decode())
    assert re.search(r'class="nav-link active"[^>]*href="/sales/today/"', home)
    listing = _header(client.get(reverse("customers:customer-list")).content.decode())
    assert re.search(r'class="nav-link active"[^>]*href="/customers/"', listing)
    assert "badge rounded-pill bg-danger" not in listing
    notify(user=consultant, message="单元 101 的保留已到期")
    listing = _header(client.get(reverse("customers:customer-list")).content.decode())
    assert ">1</span>" in listing
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    english = _header(client.get(reverse("customers:customer-list")).content.decode())
    assert "Customers" in english and "客户" not in english


def test_outside_a_request_the_piece_is_rendered_as_it_is():
    template = Template(
        "{% load memo %}{% memo 'x' name %}<b>{{ name }}</b>{% csrf_token %}{% endmemo %}"
    )
    assert template.render(Context({"name": "甲"})) == "<b>甲</b>"
    assert template.render(Context({"name": "乙"})) == "<b>乙</b>"
