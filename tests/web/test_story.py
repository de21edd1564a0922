"""The whole story in a real browser: a buyer files a claim with a forged photo, it is analysed (progress shown
without a reload), the merchant disputes it with packing evidence, the reviewer sees the heatmap and rejects it
with the keyboard, the merchant downloads the evidence report."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import login, shot

pytestmark = pytest.mark.browser


def test_forged_claim_from_filing_to_report(console, new_context, tmp_path):
    url = console.url + "/console"

    # Buyer: clear upload errors first, then the claim with the doctored photo
    buyer = login(new_context(locale="en-GB", timezone_id="Europe/Berlin"), console, "buyer_x")
    expect(buyer).to_have_url(re.compile(r"/console/my$"))
    buyer.click("#nav-new")
    buyer.fill("#order_ref", "A-2001")
    buyer.select_option("#product_id", str(console.ids["cup"]))
    buyer.fill("#amount", "89.00")
    buyer.fill("#reason", "The cup arrived with a crack in the rim.")
    buyer.click("#claim-submit")  # no photo: the browser refuses before sending
    expect(buyer.locator("#form-error")).to_have_text("Add at least one photo or video.")
    buyer.set_input_files("#files", {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"})
    expect(buyer.locator("#form-error")).to_contain_text("notes.txt is not a photo or video")
    # a file that claims to be a JPEG but is not: the server says so, and the form keeps what was typed
    buyer.set_input_files("#files", {"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": b"not a photo"})
    with buyer.expect_navigation():
        buyer.click("#claim-submit")
    expect(buyer.locator("#form-error")).to_contain_text("broken.jpg")
    expect(buyer.locator("#form-error")).to_contain_text("neither a photo nor a video")
    expect(buyer.locator("#order_ref")).to_have_value("A-2001")
    shot(buyer, "buyer-claim-form-error")

    buyer.set_input_files("#files", {"name": "crack.jpg", "mimeType": "image/jpeg",
                                     "buffer": console.photos["claim.jpg"]})
    with buyer.expect_navigation():
        buyer.click("#claim-submit")
    expect(buyer.locator("#flash")).to_have_text("Your claim has been filed.")
    claim_id = int(re.search(r"/claims/(\d+)", buyer.url).group(1))
    # progress while the analysis runs, then the state changes without a page reload
    buyer.evaluate("window.__sameDocument = 42")
    expect(buyer.locator("#progress")).to_be_visible()
    shot(buyer, "buyer-claim-analysing")
    expect(buyer.locator("#progress-text")).to_have_text("Analysis complete.", timeout=30_000)
    expect(buyer.locator("body")).to_have_attribute("data-analysed", "1")
    assert buyer.evaluate("window.__sameDocument") == 42
    expect(buyer.locator("#buyer-state")).to_contain_text("Waiting for the merchant")
    expect(buyer.locator("#deadline time")).to_contain_text(re.compile(r"GMT\+[12]"))  # Berlin, without a reload
    assert buyer.locator("#heatmap-img").count() == 0  # buyers never see the forensics
    expect(buyer.locator("#timeline")).not_to_contain_text("likely_forged")
    shot(buyer, "buyer-claim-status")

    # Merchant: the open claim with its deadline; the analysis; dispute with packing evidence
    merchant = login(new_context(locale="en-GB", timezone_id="Asia/Shanghai"), console, "merchant_a")
    expect(merchant).to_have_url(re.compile(r"/console/merchant$"))
    row = merchant.locator("#merchant-claims tr", has_text=f"#{claim_id}")
    expect(row).to_contain_text("Waiting for the merchant")
    expect(row.locator("time").first).to_contain_text("GMT+8")  # the deadline, in the merchant's zone
    shot(merchant, "merchant-open-claims")
    row.get_by_role("link", name=f"#{claim_id}").click()
    expect(merchant.locator("#heatmap-img")).to_be_visible()
    merchant.check("#answer-form input[value=dispute]")
    merchant.fill("#answer-reason", "This is our listing photo with a crack drawn on it; packing photo attached.")
    merchant.set_input_files("#answer-files", {"name": "packing.jpg", "mimeType": "image/jpeg",
                                               "buffer": console.photos["packing.jpg"]})
    with merchant.expect_navigation():
        merchant.click("#answer-submit")
    expect(merchant.locator("#flash")).to_have_text("Answer recorded.")
    expect(merchant.locator("#case-state")).to_contain_text("With a reviewer")

    # Reviewer: the queue, the case with claim, reference and heatmap, keyboard decision
    reviewer = login(new_context(locale="en-GB", viewport={"width": 1440, "height": 1000}), console, "reviewer")
    expect(reviewer).to_have_url(re.compile(r"/console/queue$"))
    first = reviewer.locator("#queue tbody tr").first
    expect(first).to_have_attribute("data-id", str(claim_id))
    expect(first).to_contain_text("Likely forged")
    shot(reviewer, "reviewer-queue")
    with reviewer.expect_navigation():
        reviewer.keyboard.press("Enter")
    expect(reviewer).to_have_url(re.compile(rf"/console/claims/{claim_id}$"))
    for img in ("#claim-img", "#reference-img", "#heatmap-img", "#overlay-img"):
        expect(reviewer.locator(img)).to_be_visible()
        assert reviewer.locator(img).evaluate("i => i.complete && i.naturalWidth > 0"), img
    expect(reviewer.locator("#relation")).to_contain_text("made from this photo")
    expect(reviewer.locator("#findings")).to_contain_text("edited region")
    expect(reviewer.locator("#findings li").first).to_contain_text("Decisive")
    reuse = reviewer.locator("#reuse a.reuse-link")
    expect(reuse).to_have_attribute("href", f"/console/claims/{console.ids['seed_claim']}")
    expect(reviewer.locator("#credit")).to_contain_text("Reused photos")
    expect(reviewer.locator("#timeline")).to_contain_text("This is our listing photo")
    packing = reviewer.locator("#packing img")  # the merchant's evidence sent with the answer
    expect(packing).to_have_count(1)
    assert packing.evaluate("i => i.complete && i.naturalWidth > 0")
    expect(reviewer.locator("#shortcuts")).to_contain_text("toggle the heatmap overlay")
    shot(reviewer, "reviewer-case")
    # h toggles the overlay, z zooms to the edited region, 0 shows the whole photo, the slider compares
    reviewer.keyboard.press("h")
    expect(reviewer.locator("#overlay-img")).to_be_hidden()
    reviewer.keyboard.press("h")
    expect(reviewer.locator("#overlay-img")).to_be_visible()
    reviewer.keyboard.press("z")
    expect(reviewer.locator("#claim-zoom")).to_have_attribute("data-zoom", "1")
    assert "scale" in reviewer.locator("#claim-zoom").evaluate("e => e.style.transform")
    reviewer.wait_for_timeout(300)  # the zoom animates
    shot(reviewer, "reviewer-case-zoomed")
    reviewer.keyboard.press("0")
    expect(reviewer.locator("#claim-zoom")).to_have_attribute("data-zoom", "")
    reviewer.locator("#compare-slider").fill("25")
    assert reviewer.locator("#compare").evaluate("e => e.style.getPropertyValue('--pos')") == "25%"
    # r picks "reject" and puts the cursor in the reason; Ctrl+Enter sends
    reviewer.keyboard.press("r")
    expect(reviewer.locator("#decide-form input[value=reject]")).to_be_checked()
    expect(reviewer.locator("#reason")).to_be_focused()
    reviewer.keyboard.type("The photo is the merchant's listing photo with a painted crack.")
    reviewer.check("#forgery")
    with reviewer.expect_navigation():
        reviewer.locator("#reason").press("Control+Enter")
    expect(reviewer.locator("#flash")).to_have_text("Decision recorded: Rejected.")
    expect(reviewer.locator("#case-state")).to_contain_text("Rejected")
    expect(reviewer.locator("#not-decidable")).to_be_visible()
    shot(reviewer, "reviewer-case-rejected")

    # Merchant: the evidence report, PDF and HTML
    merchant.goto(f"{url}/claims/{claim_id}")
    expect(merchant.locator("#case-state")).to_contain_text("Rejected")
    with merchant.expect_download() as dl:
        merchant.click("#report-pdf")
    pdf = tmp_path / "report.pdf"
    dl.value.save_as(pdf)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    with merchant.expect_download() as dl:
        merchant.click("#report-html")
    html = tmp_path / "report.html"
    dl.value.save_as(html)
    text = html.read_text()
    assert console.sha("claim.jpg") in text and "painted crack" in text
    shot(merchant, "merchant-case-report")

    # Buyer: the outcome
    buyer.goto(f"{url}/claims/{claim_id}")
    expect(buyer.locator("#buyer-state")).to_contain_text("Rejected")
    expect(buyer.locator("#buyer-state")).to_contain_text("painted crack")


def test_merchant_references_drag_and_drop_and_packing_video(console, new_context, tmp_path):
    merchant = login(new_context(locale="en-GB"), console, "merchant_a")
    merchant.click("#nav-products")
    card = merchant.locator(f"#product-{console.ids['cup']}")
    expect(card.locator("img.thumb")).to_have_count(1)
    # drop a photo on the drop zone: the form is sent with it
    data = console.photos["side.jpg"]
    transfer = merchant.evaluate_handle(
        """bytes => { const dt = new DataTransfer();
                      dt.items.add(new File([new Uint8Array(bytes)], "side.jpg", {type: "image/jpeg"}));
                      return dt; }""", list(data))
    with merchant.expect_navigation():
        card.locator("[data-drop]").dispatch_event("drop", {"dataTransfer": transfer})
    expect(merchant.locator("#flash")).to_have_text("1 photo(s) added.")
    expect(card.locator("img.thumb")).to_have_count(2)
    assert card.locator("img.thumb").last.evaluate("i => i.complete && i.naturalWidth > 0")
    shot(merchant, "merchant-products")

    # packing evidence: a short video, whose keyframes are shown
    merchant.click("#nav-orders")
    form = merchant.locator("#packing-form")
    form.locator("input[name=order_ref]").fill("A-3003")
    form.locator("input[type=file]").set_input_files({"name": "packing.mp4", "mimeType": "video/mp4",
                                                      "buffer": packing_video(tmp_path)})
    with merchant.expect_navigation():
        form.locator("button[type=submit]").click()
    order = merchant.locator("#order-A-3003")
    expect(order.locator("video")).to_have_count(1)
    frames = order.locator("img.keyframe")
    expect(frames.first).to_be_visible()
    assert frames.count() >= 2
    assert frames.first.evaluate("i => i.complete && i.naturalWidth > 0")
    shot(merchant, "merchant-orders")


def packing_video(tmp_path) -> bytes:
    """Three seconds of a panning photo, H.264 (or MPEG-4), a keyframe every second."""
    import av
    import numpy as np
    from skimage import data

    path = tmp_path / "packing.mp4"
    base = np.ascontiguousarray(data.coffee()[:240, :320])
    with av.open(str(path), "w") as c:
        try:
            s = c.add_stream("libx264", rate=10)
        except Exception:
            s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        s.codec_context.gop_size = 10
        for i in range(30):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.roll(base, i * 4, axis=1)), format="rgb24")
            for pkt in s.encode(frame):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path.read_bytes()
