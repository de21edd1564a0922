from claimlens.cases.audit import GENESIS, entry_hash, verify_chain


def chain(n=5):
    out, prev = [], GENESIS
    for i in range(1, n + 1):
        e = {"seq": i, "at": f"2026-01-01T00:00:0{i}", "actor": "system", "action": "x", "claim_id": 1,
             "from_state": None, "to_state": "submitted", "reason": f"r{i}", "data": {"k": i}}
        e["prev_hash"], e["hash"] = prev, entry_hash(prev, e)
        prev = e["hash"]
        out.append(e)
    return out


def test_intact_chain_verifies():
    c = chain()
    assert verify_chain(c, (5, c[-1]["hash"])).ok


def test_changed_entry_is_found():
    c = chain()
    c[2]["reason"] = "edited"
    r = verify_chain(c)
    assert not r.ok and r.first_bad == 3


def test_rehashed_edit_breaks_next_link():
    c = chain()
    c[1]["reason"] = "edited"
    c[1]["hash"] = entry_hash(c[1]["prev_hash"], c[1])
    r = verify_chain(c)
    assert not r.ok and r.first_bad == 3 and "link" in r.reason


def test_deleted_entry_and_deleted_tail():
    c = chain()
    r = verify_chain(c[:2] + c[3:])
    assert not r.ok and r.first_bad == 3
    r = verify_chain(c[:4], (5, c[-1]["hash"]))
    assert not r.ok and "tail" in r.reason
