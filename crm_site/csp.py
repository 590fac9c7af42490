"""django-csp's middleware, with the policy built once per process.

django-csp builds the Content-Security-Policy header anew for every response: it copies
its policy parts (``dataclasses.asdict``) and joins the directives from the settings,
~70 µs a page (issue 13). The CRM's policy is the same for every response that does
not change it: no view uses ``@csp_update`` / ``@csp_replace`` / ``@csp_exempt`` or a
nonce (responses that set their own header, as the photos' sandbox, keep it). Such a
response gets the policy built the first time; anything else goes through django-csp
as before. The memo is dropped when a test overrides the policy settings.
"""

from __future__ import annotations

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase

# What a view or decorator sets on a response to change its policy (django-csp).
_RESPONSE_PARTS = frozenset(
    {
        "_csp_config",
        "_csp_update",
        "_csp_replace",
        "_csp_exempt",
        "_csp_config_ro",
        "_csp_update_ro",
        "_csp_replace_ro",
        "_csp_exempt_ro",
    }
)
_SETTINGS = ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY", "DEBUG")

# (header, policy, excluded path prefixes) for the enforced and report-only policies.
_built: list[tuple[str, str, tuple[str, ...]]] | None = None


def _policies() -> list[tuple[str, str, tuple[str, ...]]]:
    global _built
    if _built is None:
        built = []
        for header, name, report_only in (
            (HEADER, "CONTENT_SECURITY_POLICY", False),
            (HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY", True),
        ):
            policy = build_policy(report_only=report_only)
            if policy:
                config = getattr(settings, name, None) or {}
                prefixes = tuple(config.get("EXCLUDE_URL_PREFIXES", None) or ())
                built.append((header, policy, prefixes))
        _built = built
    return _built


@receiver(setting_changed)
def _forget(*, setting: str, **kwargs) -> None:
    global _built
    if setting in _SETTINGS:
        _built = None


class CSPMiddleware(BaseCSPMiddleware):
    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        nonce = getattr(request, "_csp_nonce", None)
        # The decorators set their parts as attributes of the response (its __dict__).
        changed = not _RESPONSE_PARTS.isdisjoint(vars(response))
        if nonce is not None or changed or settings.DEBUG:
            return super().process_response(request, response)
        path = request.path_info
        for header, policy, prefixes in _policies():
            if header not in response and not path.startswith(prefixes):
                response[header] = policy
        # As django-csp: a nonce asked for after the header is written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
