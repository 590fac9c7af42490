"""axe-core in the browser tests: run it on the page shown, fail on serious problems.

axe.min.js (tests/browser/vendor/, MPL-2.0) is a test asset, never served. The pages
run under a Content Security Policy that allows no inline script, so a
``page.add_script_tag(content=...)`` would be blocked (and reported as a CSP
violation); ``page.evaluate`` runs the source through the DevTools protocol instead,
which the policy does not govern, and the page is checked exactly as it is served.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

AXE = Path(__file__).parent / "vendor" / "axe.min.js"

#: What fails a page. "moderate" and "minor" findings are printed, not failed.
FAILING_IMPACTS = ("serious", "critical")


@cache
def axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def inject_axe(page) -> None:
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # The source is an expression (a self-calling function): evaluate runs it.
        page.evaluate(axe_source())


def axe_violations(page, *, impacts: tuple[str, ...] = FAILING_IMPACTS) -> list[dict]:
    """axe's violations on the current page whose impact is one of ``impacts``."""
    inject_axe(page)
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, {resultTypes: ["violations"]});
          return r.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
            nodes: v.nodes.map(n => ({
              target: n.target.join(" "), html: n.html, summary: n.failureSummary,
            })),
          }));
        }"""
    )
    return [v for v in result if v["impact"] in impacts]


def describe(url: str, violations: list[dict], *, nodes: int = 4) -> str:
    """A readable summary: rule, impact, what to fix, and where."""
    lines = [f"{url}: {len(violations)} serious or critical accessibility problem(s)"]
    for v in violations:
        lines.append(f"  [{v['impact']}] {v['id']}: {v['help']} ({len(v['nodes'])} x)")
        for node in v["nodes"][:nodes]:
            summary = " ".join((node["summary"] or "").split())[:220]
            lines.append(f"      at {node['target']}  {node['html'][:140]}")
            lines.append(f"         {summary}")
        if len(v["nodes"]) > nodes:
            lines.append(f"      … and {len(v['nodes']) - nodes} more")
    return "\n".join(lines)
