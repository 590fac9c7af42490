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
    result = load_settings(DJANGO_DEBUG="false", DJANGO_SECRET_KEY="x" * 60)
    assert result.returncode == 0, result.stderr


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
