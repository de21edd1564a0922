"""XMP: IPTC digital source type, creator tool, edit history and remote C2PA references."""

from __future__ import annotations

from ..base import Detector, DetectorResult, register
from ..metadata import classify_software, classify_source_type, editor_severity, parse_xmp, score_of, xmp_history

SOURCE_CODES = {
    "ai_generated": "xmp_ai_generated",
    "ai_edited": "xmp_ai_edited",
    "composite": "xmp_composite",
    "not_photo": "xmp_not_a_photo",
    "screen": "xmp_screenshot",
    "edited": "xmp_human_edits",
    "enhanced": "xmp_enhanced",
}


@register
class XmpDetector(Detector):
    name = "xmp"
    weight = 0.0  # findings set the risk through their severity floors

    def run(self, evidence) -> DetectorResult:
        text = evidence.xmp
        if not text:
            return DetectorResult(self.name, findings=[], score=None, extra={"has_xmp": False})
        xmp = parse_xmp(text)
        if xmp.error == "unsafe":
            f = self.finding(
                "xmp_unsafe",
                "low",
                "The photo's XMP metadata contains XML entity or DTD tricks and was refused unread. "
                "Cameras and editors never write this.",
                error=xmp.detail,
            )
            return DetectorResult(self.name, findings=[f], score=score_of([f]))
        if xmp.error:
            f = self.finding("xmp_malformed", "info", "The photo's XMP metadata is damaged and could not be read.",
                             error=xmp.detail)
            return DetectorResult(self.name, findings=[f], score=None)

        findings = []
        for value in dict.fromkeys(xmp.values("Iptc4xmpExt", "DigitalSourceType")):
            name, sev, kind, words = classify_source_type(value)
            if kind == "ai_generated":
                msg = f"The photo's metadata declares it AI-generated: {words} (IPTC source type '{name}')."
            elif kind == "ai_edited":
                msg = f"The photo's metadata declares it was {words} (IPTC source type '{name}')."
            elif sev == "info":
                msg = f"The photo's metadata describes it as {words} (IPTC source type '{name}')."
            else:
                msg = f"The photo's metadata describes it as {words}, not an untouched photo (IPTC source type '{name}')."
            findings.append(self.finding(SOURCE_CODES.get(kind, "xmp_source_type"), sev, msg,
                                         digital_source_type=name, value=value[:300]))

        tools = list(dict.fromkeys(xmp.values("xmp", "CreatorTool")))
        history = xmp_history(xmp)
        ps_history = xmp.values("photoshop", "History")
        agents = list(dict.fromkeys(ev["softwareAgent"] for ev in history if ev.get("softwareAgent")))
        actions = list(dict.fromkeys(ev["action"] for ev in history if ev.get("action")))
        details = {"creator_tool": tools, "history_agents": agents, "history_actions": actions,
                   "history_events": len(history)}
        if ps_history:
            details["photoshop_history"] = [h[:500] for h in ps_history]

        ai = [(s, c[1]) for s in tools + agents if (c := classify_software(s)) and c[0] == "ai"]
        editors = [(s, c[1]) for s in tools + agents if (c := classify_software(s)) and c[0] == "editor"]
        if ai:
            findings.append(self.finding(
                "xmp_ai_tool", "critical",
                f"The photo's metadata says it was made or changed with an AI image tool ({ai[0][1]}).",
                tool=ai[0][0][:200], **details))
        if editors:
            findings.append(self.finding(
                "xmp_editor", editor_severity(editors[0][1]),
                f"The photo's metadata says it was saved by editing software ({editors[0][1]}). Editing is not "
                "proof of forgery, but the picture may have been changed after it was taken.",
                editor=editors[0][1], **details))
        elif history or ps_history or tools:
            findings.append(self.finding("xmp_history", "info", "Editing history recorded in the photo's metadata.",
                                         **details))

        for url in dict.fromkeys(xmp.values("dcterms", "provenance")):
            if url.lower().startswith(("http://", "https://")):
                findings.append(self.finding(
                    "xmp_c2pa_remote", "info",
                    "The photo points to Content Credentials stored online; they were not fetched (offline check).",
                    url=url[:500]))
            else:
                findings.append(self.finding(
                    "xmp_c2pa_reference", "info",
                    "The photo's metadata points to Content Credentials embedded in the file.", reference=url[:500]))
        return DetectorResult(self.name, findings=findings, score=score_of(findings), extra={"has_xmp": True})
