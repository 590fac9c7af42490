"""The survey templates in use from day one (owners read them in Chinese).

Created on first need rather than by a data migration, so a fresh database, a flushed
test database and a production one all have them; an administrator may change the
questions and weights, or activate another template, in the admin.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction

from service.models import SurveyQuestion, SurveyTemplate

# occasion: (name, introduction, [(question, weight)])
DEFAULT_TEMPLATES = {
    SurveyTemplate.Occasion.REQUEST_CLOSED: (
        "报修投诉回访问卷",
        "感谢您的反馈！请花一分钟为本次服务打分。",
        [("响应是否及时", "30"), ("问题解决的质量", "40"), ("服务人员的态度", "30")],
    ),
    SurveyTemplate.Occasion.HANDOVER: (
        "交房满意度问卷",
        "欢迎入住！请为本次交房体验打分。",
        [
            ("房屋质量", "30"),
            ("交房流程与效率", "20"),
            ("工作人员的服务", "20"),
            ("公共区域与配套", "20"),
            ("问题响应时间", "10"),
        ],
    ),
}


def active_template(occasion: str) -> SurveyTemplate:
    """The template in use for an occasion, created from the defaults if none is."""
    template = SurveyTemplate.objects.filter(occasion=occasion, is_active=True).first()
    if template is not None:
        return template
    name, intro, questions = DEFAULT_TEMPLATES[occasion]
    try:
        with transaction.atomic():
            template = SurveyTemplate.objects.create(
                occasion=occasion, name=name, intro=intro
            )
            SurveyQuestion.objects.bulk_create(
                SurveyQuestion(
                    template=template, position=n, text=text, weight=Decimal(weight)
                )
                for n, (text, weight) in enumerate(questions, start=1)
            )
    except IntegrityError:
        # Someone else created it at the same moment: one active template per occasion.
        return SurveyTemplate.objects.get(occasion=occasion, is_active=True)
    return template
