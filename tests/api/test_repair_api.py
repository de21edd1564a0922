"""Repair desk over HTTP on SQLite and PostgreSQL: the desk's day, clear 4xx errors, and every cross-role and
cross-tenant access refused without changing anything."""

import pytest
from fastapi.testclient import TestClient

from claimlens.api.app import create_app
from claimlens.cases.repair import RepairInput
from claimlens.store import Store
from claimlens.store.repair_testing import RepairWorld
from claimlens.store.testing import make_settings

CALLER = {"customer_name": "Greta Gruen", "phone": "+49 30 901820", "address": "Torstrasse 99, 10119 Berlin",
          "district": "MITTE", "fault": "washing machine does not drain", "skill": "washer"}


@pytest.fixture
def desk(tmp_path, db_url):
    st = Store(make_settings(tmp_path, db_url))
    rw = RepairWorld(st)
    with TestClient(create_app(store=st, start_jobs=False)) as c:
        yield c, rw
    st.close()


def test_a_day_at_the_desk(desk):
    c, rw = desk
    h = rw.headers
    # the shop sets up a district and a technician with a log-in
    r = c.post("/api/repair/districts", headers=h("merchant_a"), json={"code": "fhain", "name": "Friedrichshain"})
    assert r.status_code == 201 and r.json()["code"] == "FHAIN"
    r = c.post("/api/repair/technicians", headers=h("admin"), json={
        "name": "Frida", "districts": [{"district": "FHAIN", "travel_minutes": 7}], "skills": ["Washer"],
        "shift_start": "08:00", "shift_end": "18:00", "timezone": "Europe/Berlin", "username": "frida",
        "merchant_id": rw.merchant_a})
    assert r.status_code == 201, r.text
    frida = r.json()
    assert frida["skills"] == ["washer"] and frida["on_shift"] and frida["load"] == 0
    rw.tokens["frida"] = c.post(f"/api/users/{frida['user_id']}/tokens", headers=h("admin")).json()["token"]
    assert c.get("/api/me", headers=h("frida")).json()["role"] == "technician"

    # a caller phones in; the job goes to the technician who is there soonest
    r = c.post("/api/repair/requests", headers=h("op_a"), json=CALLER)
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["channel"] == "phone" and job["state"] == "dispatched" and job["technician_id"] == rw.techs["tina"]
    assert job["dispatch"]["explanation"][0].startswith("tina (#")
    # each English line comes with its code and parameters, one for one
    codes = job["dispatch"]["explanation_codes"]
    assert len(codes) == len(job["dispatch"]["explanation"])
    assert codes[0] == {"code": "soonest", "params": {"name": "tina", "id": rw.techs["tina"], "eta": 10, "travel": 10,
                                                      "load": 0, "left": 30, "target": 30}}
    assert job["sla"] == {"status": "on_track", "minutes_left": 30.0, "reason": "30 min left",
                          "reason_code": {"code": "left", "params": {"minutes": 30}}, "target_minutes": 30}
    mine = c.get("/api/repair/jobs", headers=h("tina")).json()
    assert [j["id"] for j in mine] == [job["id"]] and "customer" not in mine[0]
    seen = c.get(f"/api/repair/requests/{job['id']}", headers=h("tina")).json()
    # an offer shows the fault and district, not who the customer is or where they live
    assert "customer" not in seen and seen["contact_hidden"] == "until_accepted"
    assert seen["allowed_actions"] == ["accept", "decline"] and seen["district"] and seen["fault"]

    # a customer files online for a fridge in Pankow (pia is off shift until 14:00 UTC, tina covers it too)
    online = c.post("/api/repair/requests", headers=h("buyer_x"), json=CALLER | {
        "district": "PANKOW", "skill": "fridge", "priority": "urgent", "merchant_id": rw.merchant_a}).json()
    assert online["channel"] == "online" and online["technician_id"] == rw.techs["tina"]
    assert "dispatch" not in online  # the desk's reasoning is for staff
    assert online["sla"]["status"] == "at_risk"  # tina: 25 min travel + a job ahead

    # the operator overrides: the urgent job goes to tom, who has no fridge skill (warned, on record)
    r = c.post(f"/api/repair/requests/{online['id']}/dispatch", headers=h("op_a"),
               json={"technician_id": rw.techs["tom"], "reason": "tom is next door"})
    assert r.status_code == 200 and r.json()["technician_id"] == rw.techs["tom"]
    assert "warning: tom does not cover district PANKOW" in r.json()["dispatch"]["explanation"]
    assert {"code": "warning_district", "params": {"name": "tom", "district": "PANKOW"}} in \
        r.json()["dispatch"]["explanation_codes"]

    # tina works her job; the timeline shows each step
    rw.clock.advance(3)
    for action, reason in [("accept", ""), ("arrive", ""), ("resolve", "replaced the drain pump")]:
        r = c.post(f"/api/repair/requests/{job['id']}/actions/{action}", headers=h("tina"), json={"reason": reason})
        assert r.status_code == 200, r.text
        seen = c.get(f"/api/repair/requests/{job['id']}", headers=h("tina")).json()
        if action == "resolve":  # closed: the contact is gone again
            assert "customer" not in seen and seen["contact_hidden"] == "job_closed"
        else:  # working the job: the technician can call and find the customer
            assert seen["customer"] == {k: CALLER[k] for k in ("customer_name", "phone", "address")}
        rw.clock.advance(10)
    done = c.get(f"/api/repair/requests/{job['id']}", headers=h("op_a")).json()
    assert done["state"] == "resolved" and done["sla"]["status"] == "met"
    assert [e["action"] for e in done["timeline"]] == ["create", "dispatch", "accept", "arrive", "resolve"]

    # 33 minutes in, tom never accepted: the sweep gives the job back to tina (free again); the target has passed
    assert rw.store.repair.sweep() == {"timed_out": 1, "dispatched": 1}
    sla = c.get("/api/repair/sla", headers=h("op_a")).json()
    assert sla["counts"] == {"breached": 1, "at_risk": 0, "on_track": 0}
    assert sla["requests"][0]["id"] == online["id"] and sla["requests"][0]["technician_id"] == rw.techs["tina"]
    row = sla["requests"][0]
    assert row["reason"] == "3 min past the 30-minute target"
    assert row["reason_code"] == {"code": "breached", "params": {"minutes": 3, "target": 30}}
    assert row["dispatch_summary"].startswith("tina (#") and row["dispatch_summary_code"]["code"] == "at_risk_soonest"
    gaps = c.get("/api/repair/coverage", headers=h("op_a")).json()["gaps"]
    assert {g["district"]: g["gap"] for g in gaps} == {"SPANDAU": "uncovered"}
    assert gaps[0]["detail"] == "no technician covers this district"
    assert gaps[0]["detail_code"] == {"code": "gap_uncovered", "params": {}}

    # the caller rings again: the operator finds their requests by phone, in any spelling
    hits = c.post("/api/repair/requests/search", headers=h("op_a"), json={"phone": "0049 30 901-820"}).json()["ids"]
    assert hits == [job["id"], online["id"]]
    assert c.post("/api/repair/requests/search", headers=h("op_b"), json={"phone": CALLER["phone"]}).json()["ids"] == []
    assert c.get("/api/audit/verify", headers=h("admin")).json()["ok"]


# One world per backend for the checks that change nothing: bad input and refused access ----------------
@pytest.fixture(scope="module")
def shared(tmp_path_factory, module_db_url):
    st = Store(make_settings(tmp_path_factory.mktemp("repair"), module_db_url))
    rw = RepairWorld(st)
    rid = st.repair.create_request(rw.actors["op_a"], RepairInput(**CALLER))["id"]
    own = st.repair.create_request(rw.actors["buyer_x"], RepairInput(**(CALLER | {"district": "PANKOW"})),
                                   merchant_id=rw.merchant_a)["id"]
    with TestClient(create_app(store=st, start_jobs=False)) as c:
        yield c, rw, rid, own
    st.close()


@pytest.mark.parametrize("who,method,path,body,status,message", [
    ("op_a", "post", "/api/repair/requests", CALLER | {"district": "NOWHERE"}, 422, "unknown district NOWHERE"),
    ("op_a", "post", "/api/repair/requests", CALLER | {"phone": "12"}, 422, "too few digits"),
    ("op_a", "post", "/api/repair/requests", CALLER | {"priority": "asap"}, 422, "priority must be one of"),
    ("op_a", "post", "/api/repair/requests", CALLER | {"channel": "online"}, 422, "phone requests only"),
    ("buyer_x", "post", "/api/repair/requests", CALLER, 422, "merchant_id (or product_id) is required"),
    ("admin", "post", "/api/repair/technicians", {"name": "x", "timezone": "Mars/Olympus", "merchant_id": "{ma}"}, 422,
     "unknown time zone"),
    ("admin", "post", "/api/repair/technicians", {"name": "x", "shift_start": "25:00", "merchant_id": "{ma}"}, 422,
     "shift_start must be HH:MM"),
    ("admin", "post", "/api/repair/technicians", {"name": "x", "districts": [{"district": "ZZ", "travel_minutes": 5}],
                                                  "merchant_id": "{ma}"}, 422, "unknown district ZZ"),
    ("admin", "post", "/api/repair/technicians", {"name": "x", "username": "tina", "merchant_id": "{ma}"}, 409, "taken"),
    ("merchant_a", "post", "/api/repair/districts", {"code": "mitte", "name": "again"}, 409, "already exists"),
    ("merchant_a", "post", "/api/repair/districts", {"code": "a b", "name": "x"}, 422, "district code"),
    ("admin", "post", "/api/repair/districts", {"code": "X", "name": "x"}, 422, "merchant_id is required"),
    ("admin", "post", "/api/repair/districts", {"code": "X", "name": "x", "merchant_id": 999}, 404, "merchant 999"),
    ("tina", "post", "/api/repair/requests/{rid}/actions/teleport", {}, 422, "unknown action"),
    ("tina", "post", "/api/repair/requests/{rid}/actions/resolve", {"reason": "done"}, 409, "dispatched"),
    ("tina", "post", "/api/repair/requests/{rid}/actions/decline", {}, 422, "decline needs a reason"),
    ("op_a", "post", "/api/repair/requests/{rid}/dispatch", {"technician_id": "{tom}"}, 422, "needs a reason"),
    ("op_a", "post", "/api/repair/requests/{rid}/actions/dispatch", {}, 422, "/dispatch"),
    ("op_a", "get", "/api/repair/requests?state=lost", None, 422, "state must be one of"),
    ("op_a", "get", "/api/repair/requests/999999", None, 404, "repair request not found"),
])
def test_bad_input_gets_a_clear_4xx(shared, who, method, path, body, status, message):
    c, rw, rid, _ = shared
    fmt = {"rid": rid, "tom": rw.techs["tom"], "ma": rw.merchant_a}
    if isinstance(body, dict):
        body = {k: (int(v.format(**fmt)) if isinstance(v, str) and v.startswith("{") else v) for k, v in body.items()}
    r = c.request(method, path.format(**fmt), headers=rw.headers(who), json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]


def test_non_json_body_is_422(shared):
    c, rw, _, _ = shared
    r = c.post("/api/repair/requests", headers=rw.headers("op_a") | {"content-type": "application/json"},
               content=b"{not json")
    assert r.status_code == 422


REFUSED = [
    # (who, method, path, json body, status)
    *[(w, "get", "/api/repair/requests/{rid}", None, 404) for w in ("op_b", "ben", "tom", "merchant_b", "buyer_x")],
    *[(w, "get", "/api/repair/requests/{rid}", None, 403) for w in ("reviewer", "platform")],
    ("buyer_y", "get", "/api/repair/requests/{own}", None, 404),
    ("op_b", "post", "/api/repair/requests/{rid}/actions/cancel", {"reason": "x"}, 404),
    ("buyer_y", "post", "/api/repair/requests/{own}/actions/cancel", {"reason": "x"}, 404),
    ("buyer_x", "post", "/api/repair/requests/{rid}/actions/cancel", {"reason": "x"}, 404),
    ("tom", "post", "/api/repair/requests/{rid}/actions/accept", {}, 404),
    ("ben", "post", "/api/repair/requests/{rid}/actions/accept", {}, 404),
    ("op_a", "post", "/api/repair/requests/{rid}/actions/accept", {}, 403),
    ("merchant_a", "post", "/api/repair/requests/{rid}/actions/cancel", {"reason": "x"}, 403),
    ("buyer_x", "post", "/api/repair/requests/{own}/actions/arrive", {}, 403),
    ("op_b", "post", "/api/repair/requests/{rid}/dispatch", {"technician_id": "{ben}", "reason": "x"}, 404),
    ("op_a", "post", "/api/repair/requests/{rid}/dispatch", {"technician_id": "{ben}", "reason": "x"}, 404),
    ("tina", "post", "/api/repair/requests/{rid}/dispatch", {}, 403),
    ("buyer_x", "post", "/api/repair/requests/{own}/dispatch", {}, 403),
    ("op_a", "post", "/api/repair/districts", {"code": "X", "name": "X"}, 403),
    ("tina", "post", "/api/repair/technicians", {"name": "x"}, 403),
    ("merchant_b", "post", "/api/repair/districts", {"code": "X", "name": "X", "merchant_id": "{merchant_a}"}, 404),
    ("merchant_b", "patch", "/api/repair/technicians/{tina}", {"available": False}, 404),
    ("op_b", "patch", "/api/repair/technicians/{tina}", {"available": False}, 404),
    ("op_a", "patch", "/api/repair/technicians/{tina}", {"available": False}, 403),
    ("tom", "patch", "/api/repair/technicians/{tina}", {"available": False}, 404),
    ("tina", "patch", "/api/repair/technicians/{tina}", {"max_jobs": 9}, 403),
    ("merchant_b", "post", "/api/repair/operators", {"username": "evil", "merchant_id": "{merchant_a}"}, 404),
    ("op_a", "post", "/api/repair/operators", {"username": "evil2"}, 403),
    ("op_b", "get", "/api/repair/sla?merchant_id={merchant_a}", None, 404),
    ("op_b", "get", "/api/repair/technicians?merchant_id={merchant_a}", None, 404),
    ("merchant_b", "get", "/api/repair/coverage?merchant_id={merchant_a}", None, 404),
    *[(w, "get", "/api/repair/sla", None, 403) for w in ("buyer_x", "tina", "reviewer", "platform")],
    ("tina", "post", "/api/repair/requests/search", {"phone": "+49 30 901820"}, 403),
    ("buyer_x", "post", "/api/repair/requests/search", {"phone": "+49 30 901820"}, 403),
    ("buyer_x", "post", "/api/repair/requests", CALLER | {"merchant_id": "{merchant_a}", "buyer_id": "{buyer_y}"}, 403),
    *[(w, "post", "/api/repair/requests", CALLER, 403) for w in ("tina", "reviewer", "platform", "merchant_a")],
    ("op_a", "get", "/api/repair/jobs", None, 403),
    ("reviewer", "get", "/api/repair/requests", None, 403),
    ("buyer_x", "get", "/api/repair/districts", None, 403),
    # the desk's staff have no business with claims, products, orders, users or the audit log
    ("op_a", "get", "/api/claims", None, 403),
    ("tina", "get", "/api/products", None, 403),
    ("op_a", "get", "/api/orders/O-1/packing", None, 403),
    ("op_a", "get", "/api/products/{product_a}", None, 404),
    ("op_a", "post", "/api/users", {"username": "x", "role": "admin"}, 403),
    ("tina", "get", "/api/audit/verify", None, 403),
    ("op_a", "get", "/api/buyers/{buyer_x}", None, 404),
]


def _fill(v, fmt):
    if isinstance(v, str) and v.startswith("{") and v.endswith("}"):
        return int(v.format(**fmt))
    return v.format(**fmt) if isinstance(v, str) else v


@pytest.mark.parametrize("who,method,path,body,status", REFUSED)
def test_cross_role_and_cross_tenant_access_is_refused(shared, who, method, path, body, status):
    c, rw, rid, own = shared
    fmt = {"rid": rid, "own": own, "tina": rw.techs["tina"], "ben": rw.techs["ben"], "merchant_a": rw.merchant_a,
           "buyer_x": rw.buyer_x, "buyer_y": rw.buyer_y, "product_a": rw.product_a}
    before = [c.get(f"/api/repair/requests/{x}", headers=rw.headers("admin")).json() for x in (rid, own)]
    body = None if body is None else {k: _fill(v, fmt) for k, v in body.items()}
    r = c.request(method, path.format(**fmt), headers=rw.headers(who), json=body)
    assert r.status_code == status, r.text
    assert isinstance(r.json()["detail"], str) and r.json()["detail"]
    after = [c.get(f"/api/repair/requests/{x}", headers=rw.headers("admin")).json() for x in (rid, own)]
    assert after == before
    techs = {t["name"]: t for t in c.get(f"/api/repair/technicians?merchant_id={rw.merchant_a}",
                                         headers=rw.headers("admin")).json()}
    assert techs["tina"]["available"] and techs["tina"]["max_jobs"] == 3


def test_each_sees_only_their_own(shared):
    c, rw, rid, own = shared
    ids = lambda who, path="/api/repair/requests": [x["id"] for x in c.get(path, headers=rw.headers(who)).json()]  # noqa: E731
    assert ids("op_a") == [own, rid] and ids("merchant_a") == [own, rid] and ids("op_b") == [] and ids("ben", "/api/repair/jobs") == []
    assert ids("buyer_x") == [own] and ids("buyer_y") == []
    assert set(ids("tina", "/api/repair/jobs")) == {rid, own}
    assert ids("tom", "/api/repair/jobs") == []
    assert [t["name"] for t in c.get("/api/repair/technicians", headers=rw.headers("tom")).json()] == ["tom"]
    assert c.get("/api/repair/requests", headers={}).status_code == 401
    assert "/api/repair/requests/{request_id}/dispatch" in c.get("/openapi.json").json()["paths"]
