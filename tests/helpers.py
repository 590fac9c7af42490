"""Small helpers shared by tests."""

from __future__ import annotations

import contextlib
import html
import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path

from django.db import connection
from django.test.utils import CaptureQueriesContext


def audit_entries_about(instance) -> list:
    """The audit trail's entries about one row, oldest first."""
    from django.contrib.contenttypes.models import ContentType

    from crm_site.models import AuditEntry

    return list(
        AuditEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(instance),
            object_id=instance.pk,
        ).order_by("pk")
    )


def count_queries(action: Callable[[], object]) -> int:
    with CaptureQueriesContext(connection) as ctx:
        action()
    return len(ctx.captured_queries)


def assert_queries_do_not_grow(
    action: Callable[[], object], grow: Callable[[], object], *, at_most: int
) -> None:
    """Run `action`, add rows with `grow`, run it again: the query count must not rise."""
    action()  # warm caches (permissions, content types)
    before = count_queries(action)
    assert before <= at_most, f"{before} queries, expected at most {at_most}"
    grow()
    action()  # new users or roles in `grow` invalidate the cached permissions
    after = count_queries(action)
    assert after <= before, f"queries grew from {before} to {after} with more rows"


# What the customer page loads right after it or when scrolled to (htmx).
_LAZY = re.compile(r'hx-get="([^"]+)" hx-trigger="(?:load|revealed)"')


def customer_page(client, customer, **extra) -> str:
    """The customer page as a reader sees it: the page and its lazy-loaded sections
    (other apps' panels, change history, consent history), each fetched as htmx
    would."""
    response = client.get(customer.get_absolute_url(), **extra)
    assert response.status_code == 200
    body = response.content.decode()
    parts = [body]
    for url in _LAZY.findall(body):
        fragment = client.get(html.unescape(url), HTTP_HX_REQUEST="true", **extra)
        assert fragment.status_code == 200
        parts.append(fragment.content.decode())
    return "\n".join(parts)


@contextlib.contextmanager
def bench_module(name: str):
    """bench/<name>.py imported as a module, with bench/ on the path for its own
    imports (common, load), all forgotten afterwards."""
    bench = Path(__file__).resolve().parents[1] / "bench"
    sys.path.insert(0, str(bench))
    had = {module for module in ("common", "load") if module in sys.modules}
    try:
        spec = importlib.util.spec_from_file_location(name, bench / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)
        for module in {"common", "load"} - had:
            sys.modules.pop(module, None)
        sys.path.remove(str(bench))


def during_a_slow_merge(
    *, actor, survivor, absorbed, act: Callable[[], object]
) -> list[BaseException]:
    """Merge ``absorbed`` into ``survivor`` in one thread, holding both rows locked
    for half a second while the apps move their rows, and run ``act`` in another
    once the merge has them: what either raised, merge first (a transactional test's
    race)."""
    import threading

    from customers.services.merge import customer_merge
    from customers.signals import customer_merged

    merging = threading.Event()
    merge_errors: list[BaseException] = []
    act_errors: list[BaseException] = []

    def slow_handler(sender, **kwargs):
        merging.set()
        threading.Event().wait(0.5)

    def in_thread(work, errors):
        def run():
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - returned to the test
                errors.append(exc)
            finally:
                connection.close()

        return threading.Thread(target=run)

    def merge():
        customer_merge(actor=actor, survivor=survivor, absorbed=absorbed, choices={})

    def after_merge_began():
        merging.wait(5)
        act()

    customer_merged.connect(slow_handler, dispatch_uid="tests-slow-merge")
    try:
        threads = [
            in_thread(merge, merge_errors),
            in_thread(after_merge_began, act_errors),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        customer_merged.disconnect(dispatch_uid="tests-slow-merge")
    return merge_errors + act_errors
