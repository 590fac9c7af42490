from __future__ import annotations

import pytest
from django.urls import reverse

from service import services_work
from service.models import Article, ArticleUse
from service.selectors import article_search, articles_suggested
from tests.helpers import assert_queries_do_not_grow


@pytest.fixture
def articles(service_manager):
    def add(title, category, keywords="", fix="处理办法"):
        return Article.objects.create(
            title=title,
            category=category,
            problem=f"{title}的现象",
            cause="原因",
            fix=fix,
            keywords=keywords,
            created_by=service_manager,
        )

    return [
        add("卫生间楼板渗水", "plumbing", "漏水 防水", fix="重做 PPR 管接头"),
        add("厨房下水返味", "plumbing", "异味"),
        add("墙面裂缝", "walls_floors", "开裂"),
    ]


def test_search_finds_chinese_words_in_any_field(articles):
    assert [a.title for a in article_search(query="漏水")] == ["卫生间楼板渗水"]
    assert [a.title for a in article_search(query="现象 返味")] == ["厨房下水返味"]
    assert [a.title for a in article_search(query="ppr")] == ["卫生间楼板渗水"]
    assert {a.title for a in article_search(category="plumbing")} == {
        "卫生间楼板渗水",
        "厨房下水返味",
    }
    assert not article_search(query="电梯").exists()


def test_search_text_follows_edits(articles):
    article = articles[2]
    article.keywords = "空鼓"
    article.save()
    assert list(article_search(query="空鼓")) == [article]


def test_suggestions_follow_the_category_and_skip_linked_articles(
    articles, leak, service_agent
):
    assert {a.title for a in articles_suggested(leak)} == {
        "卫生间楼板渗水",
        "厨房下水返味",
    }
    assert services_work.article_use(
        actor=service_agent, request=leak, article=articles[0]
    )
    assert not services_work.article_use(
        actor=service_agent, request=leak, article=articles[0]
    )
    assert [a.title for a in articles_suggested(leak)] == ["厨房下水返味"]
    assert list(leak.articles.all()) == [articles[0]]
    # The linked article now ranks first in its category.
    assert article_search(category="plumbing").first() == articles[0]


def test_linking_and_unlinking_from_the_request_page(
    client, articles, leak, service_agent
):
    client.force_login(service_agent)
    page = client.get(leak.get_absolute_url())
    assert "卫生间楼板渗水" in page.content.decode()
    url = reverse("service:article-use", args=[leak.pk, articles[0].pk])
    assert client.post(url).status_code == 302
    assert ArticleUse.objects.get().used_by == service_agent
    client.post(url, {"remove": "1"})
    assert not ArticleUse.objects.exists()


def test_writing_an_article_and_refusing_bad_input(client, service_agent):
    client.force_login(service_agent)
    response = client.post(
        reverse("service:article-create"),
        {"title": "窗户漏风", "category": "doors_windows", "problem": "漏风"},
    )
    assert response.status_code == 200 and response.context["form"].errors["fix"]
    assert not Article.objects.exists()
    response = client.post(
        reverse("service:article-create"),
        {
            "title": "窗户漏风",
            "category": "doors_windows",
            "problem": "漏风",
            "fix": "换胶条",
        },
    )
    article = Article.objects.get()
    assert response.status_code == 302 and article.created_by == service_agent
    response = client.get(reverse("service:article-list"), {"q": "胶条"})
    assert list(response.context["page"].items) == [article]


@pytest.mark.parametrize(
    "persona", ["consultant", "marketer", "outsider"], indirect=True
)
def test_knowledge_pages_refuse_other_roles(client, persona, articles, leak):
    client.force_login(persona)
    for url in (
        reverse("service:article-list"),
        reverse("service:article-create"),
        articles[0].get_absolute_url(),
        reverse("service:article-edit", args=[articles[0].pk]),
    ):
        assert client.get(url).status_code == 403
    url = reverse("service:article-use", args=[leak.pk, articles[0].pk])
    assert client.post(url).status_code == 403


def test_article_list_does_not_grow_queries(client, service_agent, articles):
    client.force_login(service_agent)

    def grow():
        for n in range(10):
            Article.objects.create(
                title=f"文章{n}",
                category="other",
                problem="x",
                fix="y",
                created_by=service_agent,
            )

    assert_queries_do_not_grow(
        lambda: client.get(reverse("service:article-list"), {"q": "文章"}),
        grow,
        at_most=8,
    )
