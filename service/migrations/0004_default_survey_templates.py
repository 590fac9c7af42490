"""The two survey templates in use from day one (owners read them in Chinese); an
administrator may add questions or change weights in the admin."""

from decimal import Decimal

from django.db import migrations

TEMPLATES = [
    (
        "request_closed",
        "报修投诉回访问卷",
        "感谢您的反馈！请花一分钟为本次服务打分。",
        [
            ("响应是否及时", "30"),
            ("问题解决的质量", "40"),
            ("服务人员的态度", "30"),
        ],
    ),
    (
        "handover",
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
]


def create(apps, schema_editor):
    SurveyTemplate = apps.get_model("service", "SurveyTemplate")
    SurveyQuestion = apps.get_model("service", "SurveyQuestion")
    for occasion, name, intro, questions in TEMPLATES:
        if SurveyTemplate.objects.filter(occasion=occasion, is_active=True).exists():
            continue
        template = SurveyTemplate.objects.create(
            occasion=occasion, name=name, intro=intro
        )
        SurveyQuestion.objects.bulk_create(
            SurveyQuestion(
                template=template, position=n, text=text, weight=Decimal(weight)
            )
            for n, (text, weight) in enumerate(questions, start=1)
        )


class Migration(migrations.Migration):
    dependencies = [("service", "0003_handover_and_surveys")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
