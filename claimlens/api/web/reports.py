"""Evidence report downloads for the console. Uses the claim service's report (claimlens.store.reports) when it
is there; until then a plain report made from claim_detail, with the photos and heatmaps embedded."""

from __future__ import annotations

import base64

from jinja2 import Environment, PackageLoader, select_autoescape

_env = Environment(loader=PackageLoader("claimlens.api.web", "templates"), autoescape=select_autoescape(["html"]))


def _service_reports():
    try:
        from ...store import reports
    except ImportError:
        return None
    return reports


def report_html(store, actor, claim_id: int) -> str:
    r = _service_reports()
    if r is not None and hasattr(r, "claim_report_html"):
        return r.claim_report_html(store, actor, claim_id)
    return _fallback_html(store, actor, claim_id)


def report_pdf(store, actor, claim_id: int) -> bytes:
    r = _service_reports()
    if r is not None and hasattr(r, "claim_report_pdf"):
        return r.claim_report_pdf(store, actor, claim_id)
    from weasyprint import HTML

    return HTML(string=_fallback_html(store, actor, claim_id)).write_pdf()


def _data_uri(store, sha: str | None, ctype: str = "image/jpeg") -> str | None:
    if not sha:
        return None
    try:
        data = store.blobs.read(sha)
    except (OSError, ValueError):
        return None
    return f"data:{ctype};base64," + base64.b64encode(data).decode()


def _fallback_html(store, actor, claim_id: int) -> str:
    d = store.service.claim_detail(actor, claim_id)  # checks access
    photos = []
    for m in d["media"]:
        if m["kind"] not in ("photo", "keyframe"):
            continue
        a = m["analysis"] or {}
        photos.append({"media": m, "analysis": a, "uri": _data_uri(store, m["sha256"]),
                       "heatmap": _data_uri(store, a.get("heatmap_sha256"), "image/png"),
                       "findings": (a.get("document") or {}).get("findings", [])})
    return _env.get_template("report.html").render(claim=d, photos=photos)
