from __future__ import annotations

import pytest
from django.core import mail

from crm_site import messaging
from crm_site.models import LoggedSms


@pytest.fixture
def locmem_sms(settings):
    settings.SMS_BACKEND = "crm_site.messaging.LocMemSmsBackend"
    messaging.sms_outbox.clear()
    yield messaging.sms_outbox
    messaging.sms_outbox.clear()


def test_default_sms_backend_logs_the_masked_number_and_length_only(caplog):
    with caplog.at_level("INFO", logger="anju.sms"):
        message_id = messaging.send_sms("13800138000", "您好")
    assert message_id and message_id in caplog.text
    assert "138****8000" in caplog.text and "2 characters" in caplog.text
    assert "13800138000" not in caplog.text and "您好" not in caplog.text


def test_locmem_backend_keeps_messages(locmem_sms):
    message_id = messaging.send_sms("13800138000", "hello")
    assert locmem_sms == [messaging.SmsMessage("13800138000", "hello", message_id)]


def test_missing_phone_or_provider_error_is_send_failed(settings, locmem_sms):
    with pytest.raises(messaging.SendFailed):
        messaging.send_sms("", "x")
    settings.SMS_BACKEND = "crm_site.messaging.SmsBackend"
    with pytest.raises(messaging.SendFailed):
        messaging.send_sms("13800138000", "x")


def test_send_email_uses_django_mail():
    message_id = messaging.send_email(
        "a@example.com", "Subject", "Body", html="<p>Body</p>"
    )
    assert message_id.startswith("<") and len(mail.outbox) == 1
    assert mail.outbox[0].to == ["a@example.com"]


def test_the_log_backend_accepts_a_key_once_and_answers_look_ups(db, settings):
    settings.SMS_BACKEND = "crm_site.messaging.LogSmsBackend"
    first = messaging.send_sms("13800138000", "您好", key="k-1")
    again = messaging.send_sms("13800138000", "您好", key="k-1")
    assert first == again
    assert LoggedSms.objects.filter(key="k-1").count() == 1
    assert messaging.lookup_sms("k-1") == messaging.Accepted(first)
    assert messaging.lookup_sms("k-2") == messaging.NOT_ACCEPTED


def test_a_backend_without_look_up_and_plain_smtp_cannot_say(settings):
    settings.SMS_BACKEND = "crm_site.messaging.SmsBackend"
    assert messaging.lookup_sms("k") == messaging.UNKNOWN
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert messaging.lookup_email("k") == messaging.UNKNOWN
