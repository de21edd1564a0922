"""Test helpers for the repair desk (tests/store, tests/api): a settable clock and two desks with staff."""

from __future__ import annotations

import datetime as dt

from .testing import World

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)  # a Monday morning


class Clock:
    def __init__(self, now: dt.datetime = T0):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, minutes: float) -> dt.datetime:
        self.now += dt.timedelta(minutes=minutes)
        return self.now


class RepairWorld(World):
    """World plus a repair desk at each merchant.

    Shop A: districts MITTE, PANKOW, SPANDAU (nobody covers SPANDAU); technicians tina (MITTE 10 min, PANKOW 25,
    washer+fridge), tom (MITTE 18, washer), pia (PANKOW 8, fridge, 14:00-22:00 UTC); operator op_a.
    Shop B: district MITTE; technician ben (MITTE 5); operator op_b.
    """

    def __init__(self, store, clock: Clock | None = None):
        from ..cases.workflow import SYSTEM

        super().__init__(store)
        self.clock = clock or Clock()
        desk = store.repair
        desk.clock = self.clock
        svc = store.service
        for code, name in [("MITTE", "Mitte"), ("PANKOW", "Pankow"), ("SPANDAU", "Spandau")]:
            desk.create_district(SYSTEM, code, name, merchant_id=self.merchant_a)
        desk.create_district(SYSTEM, "MITTE", "Mitte", merchant_id=self.merchant_b)
        self.techs = {}
        for key, mid, districts, skills, shift in [
            ("tina", self.merchant_a, {"MITTE": 10, "PANKOW": 25}, ["washer", "fridge"], ("00:00", "00:00")),
            ("tom", self.merchant_a, {"MITTE": 18}, ["washer"], ("00:00", "00:00")),
            ("pia", self.merchant_a, {"PANKOW": 8}, ["fridge"], ("14:00", "22:00")),
            ("ben", self.merchant_b, {"MITTE": 5}, ["washer"], ("00:00", "00:00")),
        ]:
            t = desk.create_technician(SYSTEM, key, [{"district": d, "travel_minutes": m} for d, m in districts.items()],
                                       skills, shift[0], shift[1], "UTC", username=key, merchant_id=mid)
            self.techs[key] = t["id"]
            self.user_ids[key] = t["user_id"]
        for key, mid in [("op_a", self.merchant_a), ("op_b", self.merchant_b)]:
            self.user_ids[key] = desk.create_operator(SYSTEM, key, None, merchant_id=mid)["user_id"]
        for key in ("tina", "tom", "pia", "ben", "op_a", "op_b"):
            self.tokens[key] = svc.issue_token(SYSTEM, self.user_ids[key])
            self.actors[key] = svc.actor_for_token(self.tokens[key])
