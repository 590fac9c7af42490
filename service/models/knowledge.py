"""The knowledge base: past problems, their causes and fixes, and the requests that
used them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import Value
from django.db.models.functions import Concat, Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.querysets import ILike
from service.models.core import Category, ServiceRequest

models.TextField.register_lookup(ILike)


class Article(models.Model):
    title = models.CharField(_("title"), max_length=200)
    category = models.CharField(_("category"), max_length=30, choices=Category.choices)
    problem = models.TextField(_("problem"))
    cause = models.TextField(_("cause"), blank=True)
    fix = models.TextField(_("fix"))
    keywords = models.CharField(
        _("keywords"),
        max_length=300,
        blank=True,
        help_text=_(
            "Words owners and staff use for this problem, separated by spaces."
        ),
    )
    # One lower-cased text of every searchable field, kept by PostgreSQL; a trigram
    # index on it serves ILIKE '%漏水%' as well as Latin words.
    search_text = models.GeneratedField(
        expression=Lower(
            Concat(
                "title",
                Value(" "),
                "keywords",
                Value(" "),
                "problem",
                Value(" "),
                "cause",
                Value(" "),
                "fix",
                output_field=models.TextField(),
            )
        ),
        output_field=models.TextField(),
        db_persist=True,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    requests = models.ManyToManyField(
        ServiceRequest, through="ArticleUse", related_name="articles"
    )

    class Meta:
        verbose_name = _("knowledge article")
        verbose_name_plural = _("knowledge articles")
        indexes = [
            models.Index(
                fields=["category", "-updated_at"], name="article_category_idx"
            ),
            GinIndex(
                OpClass("search_text", name="gin_trgm_ops"), name="article_search_trgm"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("service:article-detail", args=[self.pk])


class ArticleUse(models.Model):
    """A request that was handled with the help of an article."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="uses")
    request = models.ForeignKey(
        ServiceRequest, on_delete=models.CASCADE, related_name="article_uses"
    )
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["article", "request"], name="article_use_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.article_id} ↔ {self.request_id}"
