"""Auto-approval: a platform policy. Every automatic decision comes with its reasons."""

from __future__ import annotations

from dataclasses import dataclass, field

from .workflow import ClaimType

BLOCKING_VERDICTS = ("likely_forged", "suspicious")
CLEAN = "no_evidence_of_forgery"


@dataclass(frozen=True)
class BuyerHistory:
    refunds: int = 0  # approved refunds in the look-back window
    confirmed_forgeries: int = 0
    reused_photos: int = 0
    external_forgeries: int = 0  # from imported credit records of other platforms
    external_reused_photos: int = 0


@dataclass(frozen=True)
class AutoApprovalPolicy:
    enabled: bool = True
    max_amount_cents: int = 5_000
    max_recent_refunds: int = 3
    claim_types: tuple[str, ...] = (ClaimType.REFUND_ONLY.value, ClaimType.RETURN_AND_REFUND.value)

    def decide(self, claim_type: str, amount_cents: int, verdicts: list[str], history: BuyerHistory) -> "AutoDecision":
        """Approve only when every condition holds; the reasons list each check either way."""
        ok, reasons = True, []

        def check(cond: bool, yes: str, no: str):
            nonlocal ok
            ok = ok and cond
            reasons.append(yes if cond else no)

        check(self.enabled, "auto-approval is enabled", "auto-approval is disabled by platform policy")
        check(
            claim_type in self.claim_types,
            f"claim type {claim_type} may be auto-approved",
            f"claim type {claim_type} always goes to the merchant",
        )
        check(
            amount_cents <= self.max_amount_cents,
            f"amount {amount_cents / 100:.2f} is within the limit {self.max_amount_cents / 100:.2f}",
            f"amount {amount_cents / 100:.2f} is above the limit {self.max_amount_cents / 100:.2f}",
        )
        blocking = [v for v in verdicts if v in BLOCKING_VERDICTS]
        unclean = [v for v in verdicts if v != CLEAN]
        check(bool(verdicts), f"{len(verdicts)} photo(s) analysed", "no photo could be analysed")
        check(
            not blocking,
            "no photo is suspicious or likely forged",
            f"{len(blocking)} photo(s) {'/'.join(sorted(set(blocking)))}: never auto-approved",
        )
        if not blocking:
            check(not unclean, "every photo analysed cleanly", f"{len(unclean)} photo(s) could not be analysed cleanly")
        check(
            history.refunds < self.max_recent_refunds,
            f"buyer has {history.refunds} recent refund(s), below {self.max_recent_refunds}",
            f"buyer has {history.refunds} recent refund(s), the limit is {self.max_recent_refunds}",
        )
        forgeries = history.confirmed_forgeries + history.external_forgeries
        check(forgeries == 0, "buyer has no confirmed forgery", f"buyer has {forgeries} confirmed forgery(ies)")
        reused = history.reused_photos + history.external_reused_photos
        check(reused == 0, "buyer has no reused photo on record", f"buyer has {reused} reused photo(s) on record")
        return AutoDecision(ok, reasons)


@dataclass(frozen=True)
class AutoDecision:
    approve: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def explanation(self) -> str:
        head = "auto-approved" if self.approve else "not auto-approved"
        return f"{head}: " + "; ".join(self.reasons)


def worst_verdict(verdicts: list[str]) -> str | None:
    order = {"likely_forged": 4, "suspicious": 3, "unreadable": 2, CLEAN: 1}
    return max(verdicts, key=lambda v: order.get(v, 0), default=None)
