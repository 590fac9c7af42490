from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_settings(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('ok')"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "crm_site.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_refuse_to_start_without_a_secret_key_when_debug_is_off():
    result = load_settings(DJANGO_DEBUG="false")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_settings_start_without_a_secret_key_in_debug_mode():
    result = load_settings(DJANGO_DEBUG="true")
    assert result.returncode == 0, result.stderr


def test_settings_start_with_a_secret_key_and_debug_off():
    result = load_settings(
        DJANGO_DEBUG="false", DJANGO_SECRET_KEY="x" * 60, ID_NUMBER_HASH_KEY="y" * 60
    )
    assert result.returncode == 0, result.stderr


def test_settings_refuse_to_start_without_an_id_hash_key_when_debug_is_off():
    result = load_settings(
        DJANGO_DEBUG="false", DJANGO_SECRET_KEY="x" * 60, ID_NUMBER_HASH_KEY=""
    )
    assert result.returncode != 0
    assert "ID_NUMBER_HASH_KEY must be set" in result.stderr


def test_the_id_hash_key_never_falls_back_to_the_secret_key(settings):
    # Debug on, no key: a fixed development key, not the secret key.
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.ID_NUMBER_HASH_KEY != s.SECRET_KEY)"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    clean.pop("ID_NUMBER_HASH_KEY", None)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "crm_site.settings",
            "DJANGO_DEBUG": "true",
            "DJANGO_SECRET_KEY": "s" * 60,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip().endswith("True"), result.stderr


def test_deploy_check_refuses_the_secret_key_as_id_hash_key(settings):
    from crm_site.checks import id_number_hash_key_check

    settings.ID_NUMBER_HASH_KEY = settings.SECRET_KEY
    assert [e.id for e in id_number_hash_key_check()] == ["crm_site.E001"]
    settings.ID_NUMBER_HASH_KEY = "a-separate-random-key"
    assert id_number_hash_key_check() == []


def test_time_zone_language_and_aware_datetimes(settings):
    assert settings.TIME_ZONE == "Asia/Shanghai"
    assert settings.USE_TZ is True
    assert settings.LANGUAGE_CODE == "zh-hans"
    assert [code for code, _ in settings.LANGUAGES] == ["zh-hans", "en"]


def test_env_example_lists_every_variable_settings_read():
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            names.add(line.split("=", 1)[0].strip())
    source = (ROOT / "crm_site" / "settings.py").read_text()
    import re

    read = set(
        re.findall(r'(?:environ\.get|env_bool|env_list)\(\s*"([A-Z_]+)"', source)
    )
    read |= set(re.findall(r'os\.environ\["([A-Z_]+)"\]', source))
    assert read - names == set(), f"missing from .env.example: {sorted(read - names)}"
