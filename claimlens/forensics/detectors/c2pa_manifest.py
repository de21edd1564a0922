"""C2PA Content Credentials, read and validated strictly offline with c2pa-python."""

from __future__ import annotations

import io
import json
import re

from ..base import Detector, DetectorResult, register
from ..metadata import classify_source_type, score_of

# No network, ever: no remote manifests, no OCSP, and an empty host allow-list as a second lock.
OFFLINE_SETTINGS = {
    "version": 1,
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    "core": {"allowed_network_hosts": []},
}

MIME = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
    "HEIF": "image/heif",
    "AVIF": "image/avif",
    "GIF": "image/gif",
}

# Validation codes meaning the pixels (or the bytes they are bound to) changed after signing.
HASH_MISMATCH = re.compile(r"^assertion\.(dataHash|boxesHash|bmffHash|collectionHash)\.mismatch$")
# Codes that only say what an offline check without a trust list cannot know.
BENIGN = {
    "signingCredential.untrusted",
    "signingCredential.ocsp.skipped",
    "signingCredential.ocsp.unknown",
    "timeStamp.untrusted",
    "timeStamp.malformed",
    "timeStamp.mismatch",
    "cawg.ica.did_unavailable",
    "cawg.x509.credential.untrusted",
    "ingredient.manifest.missing",
}
PLAIN_ACTIONS = ("c2pa.created", "c2pa.opened", "c2pa.edited", "c2pa.placed")


def offline_context():
    import c2pa

    return c2pa.Context.from_dict(OFFLINE_SETTINGS)


def read_manifest_store(data: bytes, mime: str) -> tuple[dict | None, str | None]:
    """(manifest store JSON, None), (None, None) when there is none, or (None, error message)."""
    import c2pa

    ctx = offline_context()
    try:
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, ctx)
        if reader is None:
            return None, None
        with reader:
            return json.loads(reader.json()), None
    except c2pa.C2paError as exc:
        return None, str(exc)
    finally:
        ctx.close()


def _codes(entries) -> list[str]:
    return [e.get("code") for e in entries or [] if isinstance(e, dict) and e.get("code")]


def _validation(store: dict) -> tuple[list[str], list[str]]:
    """(active-manifest failure codes, ingredient failure codes)."""
    vr = store.get("validation_results") or {}
    active = _codes((vr.get("activeManifest") or {}).get("failure"))
    if not vr:
        active = _codes(store.get("validation_status"))
    ingredients = []
    for d in vr.get("ingredientDeltas") or []:
        ingredients += _codes((d.get("validationDeltas") or {}).get("failure"))
    for m in (store.get("manifests") or {}).values():
        for ing in m.get("ingredients") or []:
            ingredients += [c for c in _codes(ing.get("validation_status")) if not c.endswith((".match", ".validated"))]
    return active, ingredients


def _actions(manifest: dict) -> list[dict]:
    out = []
    for a in manifest.get("assertions") or []:
        if str(a.get("label", "")).startswith("c2pa.actions"):
            for act in (a.get("data") or {}).get("actions") or []:
                if isinstance(act, dict):
                    out.append(act)
    return out


def _agent(act: dict) -> str | None:
    sa = act.get("softwareAgent")
    if isinstance(sa, dict):
        sa = sa.get("name")
    return str(sa) if sa else None


def _generator(manifest: dict) -> str | None:
    g = manifest.get("claim_generator")
    if not g:
        info = manifest.get("claim_generator_info") or []
        if info and isinstance(info[0], dict):
            g = " ".join(str(x) for x in (info[0].get("name"), info[0].get("version")) if x)
    return g or None


@register
class C2paDetector(Detector):
    name = "c2pa"
    weight = 0.0  # findings set the risk through their severity floors

    def run(self, evidence) -> DetectorResult:
        mime = MIME.get(evidence.format)
        if mime is None:
            return self.not_applicable(f"C2PA is not read from {evidence.format} files")
        if b"c2pa" not in evidence.data and b"provenance" not in evidence.data:
            return DetectorResult(self.name, findings=[], score=None, extra={"has_manifest": False})
        store, error = read_manifest_store(evidence.data, mime)
        if error is not None:
            return self._error(error)
        if store is None:
            return DetectorResult(self.name, findings=[], score=None, extra={"has_manifest": False})
        findings = self._report(store)
        return DetectorResult(self.name, findings=findings, score=score_of(findings), extra={"has_manifest": True})

    def _error(self, error: str) -> DetectorResult:
        m = re.search(r"(https?://\S+)", error)
        if "remote" in error.lower() and m:
            f = self.finding(
                "c2pa_remote_manifest", "info",
                "The photo points to Content Credentials stored online. They were not fetched: checks run offline.",
                url=m.group(1))
            return DetectorResult(self.name, findings=[f], score=None, extra={"has_manifest": False})
        if "prerelease" in error.lower():
            f = self.finding("c2pa_prerelease", "info",
                             "The photo carries Content Credentials in a pre-release format that cannot be checked.",
                             error=error[:300])
            return DetectorResult(self.name, findings=[f], score=None, extra={"has_manifest": True})
        f = self.finding("c2pa_unreadable", "low",
                         "The photo carries Content Credentials that cannot be read or checked; they are damaged "
                         "or malformed.", error=error[:300])
        return DetectorResult(self.name, findings=[f], score=score_of([f]), extra={"has_manifest": True})

    def _report(self, store: dict) -> list:
        findings = []
        manifests = store.get("manifests") or {}
        active_label = store.get("active_manifest")
        active = manifests.get(active_label) or {}
        state = store.get("validation_state")
        active_fail, ingredient_fail = _validation(store)
        sig = active.get("signature_info") or {}
        summary = {
            "validation_state": state,
            "claim_generator": _generator(active),
            "signer": sig.get("issuer") or sig.get("common_name"),
            "signed_at": sig.get("time"),
            "manifests": len(manifests),
            "failures": active_fail,
        }
        findings.append(self.finding(
            "c2pa_manifest", "info",
            f"The photo carries Content Credentials (C2PA) made by {summary['claim_generator'] or 'unknown software'}"
            f", signed by {summary['signer'] or 'an unknown signer'}; validation state: {state}.", **summary))

        mismatch = [c for c in active_fail if HASH_MISMATCH.match(c)]
        if mismatch:
            findings.append(self.finding(
                "c2pa_edited_after_signing", "high",
                "The photo no longer matches its signed Content Credentials: it was edited after signing.",
                codes=mismatch))
        other = [c for c in active_fail if c not in BENIGN and c not in mismatch]
        if other:
            findings.append(self.finding(
                "c2pa_invalid", "medium",
                "The photo's Content Credentials fail validation (signature or contents altered), "
                "so they cannot be trusted.", codes=other))
        ing_bad = sorted({c for c in ingredient_fail if c not in BENIGN})
        if ing_bad:
            findings.append(self.finding(
                "c2pa_ingredient_invalid", "low",
                "A source picture listed in the photo's Content Credentials has credentials that fail validation.",
                codes=ing_bad))
        untrusted = [c for c in active_fail if c in BENIGN and c.startswith(("signingCredential", "timeStamp", "cawg"))]
        if untrusted:
            findings.append(self.finding(
                "c2pa_untrusted_signer", "info",
                "The signer is not on a trust list known here (test or unknown certificate); this says nothing "
                "about the photo itself.", codes=untrusted))

        # Actions of every manifest in the store: AI creation anywhere in the history counts.
        worst: dict[str, tuple] = {}
        edits, plain = [], []
        for label, m in manifests.items():
            for act in _actions(m):
                action = act.get("action")
                dst = act.get("digitalSourceType")
                if action in PLAIN_ACTIONS or dst:
                    plain.append({"manifest": label, "action": action, "source_type": dst, "agent": _agent(act)})
                if dst:
                    name, sev, kind, words = classify_source_type(str(dst))
                    if kind in ("ai_generated", "ai_edited", "composite", "not_photo") and (
                        kind not in worst or label == active_label
                    ):
                        worst[kind] = (name, sev, words, action, _agent(act) or _generator(m), label)
                elif action == "c2pa.edited":
                    edits.append(_agent(act) or _generator(m))
        codes = {"ai_generated": "c2pa_ai_generated", "ai_edited": "c2pa_ai_edited",
                 "composite": "c2pa_composite", "not_photo": "c2pa_not_a_photo"}
        for kind, (name, sev, words, action, agent, label) in worst.items():
            findings.append(self.finding(
                codes[kind], sev,
                f"The photo's signed Content Credentials record it as {words} "
                f"(action {action}, source type '{name}'{', by ' + agent if agent else ''}).",
                digital_source_type=name, action=action, software=agent, manifest=label))
        if edits and not worst:
            agents = sorted({a for a in edits if a})
            findings.append(self.finding(
                "c2pa_edited", "medium",
                "The photo's signed Content Credentials record that it was edited"
                + (f" in {', '.join(agents)}." if agents else "."), software=agents, edits=len(edits)))
        if plain:
            findings.append(self.finding("c2pa_actions", "info", "Actions recorded in the Content Credentials.",
                                         actions=plain[:50]))
        return findings
