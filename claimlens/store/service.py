"""The claim service: every operation on users, products, evidence and claims, each in one transaction.

Rules come from claimlens.cases (workflow, access, policy); this module only loads, checks and writes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import threading
import time
import queue
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, func, literal_column, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from ..cases import access
from ..cases.audit import canonical
from ..cases.errors import Conflict, DeadlinePassed, DomainError, Forbidden, Invalid, NotFound
from ..cases.workflow import SYSTEM, USER_ROLES, Actor, ClaimType, Role, State, outcome_after, transition_for
from . import audit
from .db import Prepared
from .models import (
    ApiToken,
    AuditEntry,
    Blob,
    Buyer,
    Claim,
    ClaimMedia,
    Decision,
    IdempotencyKey,
    Job,
    Merchant,
    Order,
    PackingEvidence,
    Product,
    ProductPhoto,
    User,
    utcnow,
)
from .uploads import Ingested

log = logging.getLogger(__name__)
PH = PasswordHasher()
OPEN_STATES = tuple(s.value for s in State if s not in (State.REJECTED, State.FINAL))


def _column_default(c):
    d = c.default
    return d.arg if d is not None and d.is_scalar else None


def _values(table, skip=(), prefix="") -> dict:
    """A bind per column; a column left out of the parameters gets its scalar default (or NULL)."""
    return {c.key: bindparam(prefix + c.key, value=_column_default(c), type_=c.type) for c in table.columns
            if c.key not in skip}


def _insert(table, returning=True) -> Prepared:
    if not returning:
        return Prepared(table.insert().values(_values(table)))
    return Prepared(table.insert().values(_values(table, skip=("id",))).returning(table.c.id))


# Prebuilt statements of the intake path: compiled once per dialect, run on the DB-API cursor
_claims = Claim.__table__
CLAIM_DEFAULTS = {c.key: _column_default(c) for c in _claims.columns if c.key != "id"}
RAW_INSERT_CLAIM = _insert(_claims)
RAW_INSERT_MEDIA = _insert(ClaimMedia.__table__)
RAW_INSERT_JOB = _insert(Job.__table__)
RAW_INSERT_IDEM = _insert(IdempotencyKey.__table__)
RAW_INSERT_AUDIT = _insert(AuditEntry.__table__, returning=False)
UPSERT_BLOB = {"sqlite": sqlite_insert(Blob.__table__).on_conflict_do_nothing(index_elements=["sha256"]),
               "postgresql": pg_insert(Blob.__table__).on_conflict_do_nothing(index_elements=["sha256"])}
RAW_UPSERT_BLOB = Prepared({name: ins(Blob.__table__).values(_values(Blob.__table__)).on_conflict_do_nothing(
    index_elements=["sha256"]) for name, ins in (("sqlite", sqlite_insert), ("postgresql", pg_insert))})
RAW_LOCK_HEAD = Prepared(audit.LOCK_HEAD)
RAW_MOVE_HEAD = Prepared(audit.MOVE_HEAD)
FIND_BUYER = Prepared(select(Buyer.__table__.c.id).where(Buyer.__table__.c.id == bindparam("id")))
FIND_OPEN_CLAIM = Prepared(select(_claims.c.id).where(
    _claims.c.buyer_id == bindparam("buyer_id"), _claims.c.merchant_id == bindparam("merchant_id"),
    _claims.c.order_ref == bindparam("order_ref"), or_(*(_claims.c.state == s for s in OPEN_STATES))).limit(1))

def _binds(table, prefix: str, keys) -> list:
    return [bindparam(prefix + k, value=_column_default(table.c[k]), type_=table.c[k].type) for k in keys]


def _pg_intake() -> Prepared:
    """PostgreSQL: a claim with one file in one statement (claim, blob, media, job, idempotency key as CTEs)."""
    cl, bl, me, jo, ik = _claims, Blob.__table__, ClaimMedia.__table__, Job.__table__, IdempotencyKey.__table__
    c = cl.insert().values(_values(cl, skip=("id",), prefix="c_")).returning(cl.c.id).cte("c")
    b = pg_insert(bl).values(_values(bl, prefix="b_")).on_conflict_do_nothing(index_elements=["sha256"]).cte("b")
    mk = [k.key for k in me.columns if k.key not in ("id", "claim_id")]
    m = me.insert().from_select(["claim_id"] + mk, select(c.c.id, *_binds(me, "m_", mk))).returning(me.c.id).cte("m")
    jk = [k.key for k in jo.columns if k.key not in ("id", "claim_id", "payload")]
    j = jo.insert().from_select(["claim_id", "payload"] + jk, select(
        c.c.id, func.json_build_object(literal_column("'claim_id'"), c.c.id), *_binds(jo, "j_", jk))).returning(
        jo.c.id).cte("j")
    kk = [k.key for k in ik.columns if k.key not in ("id", "claim_id")]
    k = ik.insert().from_select(["claim_id"] + kk, select(c.c.id, *_binds(ik, "k_", kk)).where(
        bindparam("k_key", type_=ik.c.key.type).is_not(None))).cte("k")
    return Prepared({"postgresql": select(c.c.id, m.c.id, j.c.id).add_cte(b, k)})


PG_INTAKE = _pg_intake()



@dataclass
class ClaimInput:
    order_ref: str
    product_id: int
    type: str
    amount: str
    reason: str = ""
    currency: str = "EUR"
    buyer_id: int | None = None
    merchant_id: int | None = None


@dataclass
class NewClaim:
    actor: Actor
    row: dict
    files: list
    key: str | None
    request_hash: str
    check_buyer: bool
    media: list = field(default_factory=list)
    job_id: int | None = None
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class IntakeWriter:
    """Group commit of new claims: one thread per process writes the claims that requests hand it, as many as
    are waiting, in one transaction of prebuilt statements (one commit, one audit-head lock for the batch).

    Each request waits for the commit of its batch, so an accepted claim is durable. When a statement fails
    (a duplicate Idempotency-Key) the batch is rolled back and its claims written one by one.
    """

    MAX_BATCH = 64
    IDLE_S = 5.0  # the thread ends after this long without work and starts again on demand

    def __init__(self, db, jobs):
        self.db, self.jobs = db, jobs
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.largest_batch = 0

    def write(self, item: NewClaim) -> None:
        """Write the claim (sets item.row["id"], item.media); raises what the write raised."""
        self._queue.put(item)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="claim-intake", daemon=True)
                self._thread.start()
        item.done.wait()
        if item.error is not None:
            raise item.error

    def _loop(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self.IDLE_S)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            batch = [first]
            while len(batch) < self.MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self.largest_batch = max(self.largest_batch, len(batch))
            self._write(batch)

    def _write(self, batch: list[NewClaim]) -> None:
        try:
            errors = self._transaction(batch)
        except self.db.IntegrityError as exc:
            if len(batch) > 1:
                for item in batch:
                    self._write([item])
                return
            errors = {id(batch[0]): exc}
        except BaseException as exc:  # the database went away, ...: every claim of the batch fails
            errors = {id(item): exc for item in batch}
        jobs = [item.job_id for item in batch if id(item) not in errors]
        if jobs:
            try:
                self.jobs.notify(jobs)
            except Exception as exc:  # the jobs stay queued and are picked up later
                log.error("could not notify the job queue: %s", exc)
        for item in batch:
            item.error = errors.get(id(item))
            item.done.set()

    def _transaction(self, batch: list[NewClaim]) -> dict:
        d = self.db.dialect
        errors, written = {}, []
        with self.db.raw_transaction() as cur:
            for item in batch:
                item.media = []
                try:
                    self._insert(cur, d, item)
                    written.append(item)
                except DomainError as exc:  # checked before anything of it was written
                    errors[id(item)] = exc
            if written:
                # the head is locked only for these last steps
                seq, prev = RAW_LOCK_HEAD.first(cur, d, {})
                entries = []
                for item in written:
                    r = item.row
                    seq += 1
                    e = audit.next_entry(seq, prev, actor=item.actor.label, action="submit", claim_id=r["id"],
                                         to_state=State.SUBMITTED.value, now=r["created_at"],
                                         data={"sha256": [f.sha256 for f in item.files],
                                               "amount_cents": r["amount_cents"], "type": r["type"]})
                    entries.append(e)
                    prev = e["hash"]
                RAW_INSERT_AUDIT.run_many(cur, d, entries)
                RAW_MOVE_HEAD.run(cur, d, {"seq": seq, "hash": prev})
        return errors

    @staticmethod
    def _insert(cur, d, item: NewClaim) -> None:
        r, now = item.row, item.row["created_at"]
        if item.check_buyer and FIND_BUYER.first(cur, d, {"id": r["buyer_id"]}) is None:
            raise Invalid(f"no buyer {r['buyer_id']}")
        dup = FIND_OPEN_CLAIM.first(cur, d, {"buyer_id": r["buyer_id"], "merchant_id": r["merchant_id"],
                                             "order_ref": r["order_ref"]})
        if dup is not None:
            raise Conflict(f"claim {dup[0]} for order {r['order_ref']!r} is still open")
        # the order (and its packing evidence) is linked when the claim is analysed
        if d.name == "postgresql" and len(item.files) == 1:  # one round trip instead of five
            f = item.files[0]
            p = {"c_" + k: v for k, v in r.items() if k != "id"}
            p.update(b_sha256=f.sha256, b_size=f.file.size, b_kind=f.kind, b_content_type=f.content_type,
                     b_width=f.width, b_height=f.height, b_created_at=now, m_blob_sha=f.sha256, m_kind=f.kind,
                     m_filename=f.file.filename[:300], m_round=1, m_created_at=now, j_kind="analyse_claim",
                     j_state="queued", j_attempts=0, j_max_attempts=5, j_created_at=now, j_updated_at=now,
                     k_user_id=item.actor.user_id, k_key=item.key or None, k_request_hash=item.request_hash,
                     k_created_at=now)
            r["id"], mid, item.job_id = PG_INTAKE.first(cur, d, p)
            item.media.append(dict(id=mid, claim_id=r["id"], blob_sha=f.sha256, kind=f.kind,
                                   filename=f.file.filename[:300]))
            return
        cid = r["id"] = RAW_INSERT_CLAIM.first(cur, d, r)[0]
        for f in item.files:
            RAW_UPSERT_BLOB.run(cur, d, dict(sha256=f.sha256, size=f.file.size, kind=f.kind,
                                             content_type=f.content_type, width=f.width, height=f.height,
                                             fingerprint=None, created_at=now))
            m = dict(claim_id=cid, blob_sha=f.sha256, kind=f.kind, parent_id=None, frame_time=None,
                     filename=f.file.filename[:300], round=1, created_at=now)
            m["id"] = RAW_INSERT_MEDIA.first(cur, d, m)[0]
            item.media.append(m)
        item.job_id = RAW_INSERT_JOB.first(cur, d, dict(kind="analyse_claim", payload={"claim_id": cid},
                                                        claim_id=cid, state="queued", attempts=0, max_attempts=5,
                                                        created_at=now, updated_at=now))[0]
        if item.key:
            RAW_INSERT_IDEM.run(cur, d, dict(user_id=item.actor.user_id, key=item.key,
                                             request_hash=item.request_hash, claim_id=cid, created_at=now))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_amount(amount: str) -> int:
    try:
        d = Decimal(str(amount).strip())
    except InvalidOperation:
        raise Invalid(f"amount {amount!r} is not a number") from None
    if not d.is_finite() or d <= 0 or d >= Decimal(10) ** 9:
        raise Invalid("amount must be above 0 and below 1,000,000,000")
    if d != d.quantize(Decimal("0.01")):
        raise Invalid("amount has more than two decimals")
    return int(d * 100)


class ClaimService:
    def __init__(self, store):
        self.store = store
        self.db = store.db
        self._token_cache: dict[str, tuple[Actor, float]] = {}
        self._token_lock = threading.Lock()
        self._revocations = 0  # bumped by every revocation: a token look-up that overlapped one is not cached
        self._products: dict[int, int] = {}
        self._intake = IntakeWriter(self.db, store.jobs)

    # Blobs ---------------------------------------------------------------------------------
    def _add_blob(self, s, ing: Ingested | None = None, *, sha=None, size=None, kind=None, content_type=None,
                  width=None, height=None, fingerprint=None):
        """Insert the blob row unless present (concurrent inserts of the same content are fine)."""
        if ing is not None:
            sha, size, kind, content_type = ing.sha256, ing.file.size, ing.kind, ing.content_type
            width, height = ing.width, ing.height
        values = dict(sha256=sha, size=size, kind=kind, content_type=content_type, width=width, height=height,
                      fingerprint=fingerprint, created_at=utcnow())
        s.connection().execute(UPSERT_BLOB["sqlite" if self.db.is_sqlite else "postgresql"], values)
        if fingerprint:
            b = s.get(Blob, sha)
            if b is not None and not b.fingerprint:
                b.fingerprint = fingerprint

    def referenced_blobs(self, shas: list[str]) -> set[str]:
        """Which of these blobs the database knows (every reference to a file goes with its `blobs` row)."""
        with self.db.read() as s:
            return set(s.execute(select(Blob.sha256).where(Blob.sha256.in_(shas))).scalars())

    def collect_blobs(self, older_than_s: float = 3600.0, dry_run: bool = False):
        """Remove stored files no row references, and stale temp files, older than the grace period."""
        return self.store.blobs.collect_garbage(self.referenced_blobs, older_than_s, dry_run=dry_run)

    # Merchants, buyers, users, tokens -------------------------------------------------------
    def create_merchant(self, actor: Actor, name: str) -> int:
        access.require_role(actor, Role.ADMIN, Role.PLATFORM, Role.SYSTEM)
        if not name.strip():
            raise Invalid("merchant name is empty")
        with self.db.session() as s:
            m = Merchant(name=name.strip())
            s.add(m)
            s.flush()
            audit.append(s, actor=actor.label, action="create_merchant", data={"merchant_id": m.id})
            return m.id

    def create_buyer(self, actor: Actor, display_name: str, phone: str | None = None, address: str | None = None,
                     id_number: str | None = None) -> int:
        access.require_role(actor, Role.ADMIN, Role.PLATFORM, Role.SYSTEM)
        st = self.store
        subjects = [st.consortium_hash(k, v) for k, v in (("phone", phone), ("id", id_number)) if v]
        b = Buyer(
            display_name=display_name.strip() or "buyer",
            phone_enc=st.keyring.encrypt(phone, "buyer.phone"),
            phone_hash=st.hasher("phone", phone),
            address_enc=st.keyring.encrypt(address, "buyer.address"),
            id_number_enc=st.keyring.encrypt(id_number, "buyer.id_number"),
            id_hash=st.hasher("id", id_number),
            subjects=subjects,
        )
        with self.db.session() as s:
            s.add(b)
            s.flush()
            audit.append(s, actor=actor.label, action="create_buyer", data={"buyer_id": b.id})
            return b.id

    def buyer_pii(self, actor: Actor, buyer_id: int) -> dict:
        if not (actor.role in (Role.ADMIN, Role.PLATFORM) or (actor.role is Role.BUYER and actor.buyer_id == buyer_id)):
            raise NotFound("buyer not found")
        with self.db.read() as s:
            b = s.get(Buyer, buyer_id)
            if b is None:
                raise NotFound("buyer not found")
            kr = self.store.keyring
            return {"id": b.id, "display_name": b.display_name, "phone": kr.decrypt(b.phone_enc, "buyer.phone"),
                    "address": kr.decrypt(b.address_enc, "buyer.address"),
                    "id_number": kr.decrypt(b.id_number_enc, "buyer.id_number")}

    def find_buyers(self, actor: Actor, phone: str | None = None, id_number: str | None = None) -> list[int]:
        access.require_role(actor, Role.ADMIN, Role.PLATFORM, Role.REVIEWER)
        q = select(Buyer.id)
        if phone:
            q = q.where(Buyer.phone_hash == self.store.hasher("phone", phone))
        if id_number:
            q = q.where(Buyer.id_hash == self.store.hasher("id", id_number))
        if not phone and not id_number:
            raise Invalid("search by phone or id_number")
        with self.db.read() as s:
            return list(s.execute(q.order_by(Buyer.id)).scalars())

    def create_user(self, actor: Actor, username: str, password: str | None, role: str, merchant_id: int | None = None,
                    buyer_id: int | None = None) -> int:
        access.require_role(actor, Role.ADMIN, Role.SYSTEM)
        if role not in USER_ROLES:
            raise Invalid(f"role must be one of {', '.join(USER_ROLES)}")
        if role in (Role.OPERATOR.value, Role.TECHNICIAN.value):
            raise Invalid(f"a {role} belongs to a shop's repair desk: add one with POST /api/repair/{role}s")
        if role == "merchant" and merchant_id is None:
            raise Invalid("a merchant user needs merchant_id")
        if role == "buyer" and buyer_id is None:
            raise Invalid("a buyer user needs buyer_id")
        if password is not None and len(password) < 8:
            raise Invalid("password must have at least 8 characters")
        with self.db.session() as s:
            if merchant_id is not None and s.get(Merchant, merchant_id) is None:
                raise Invalid(f"no merchant {merchant_id}")
            if buyer_id is not None and s.get(Buyer, buyer_id) is None:
                raise Invalid(f"no buyer {buyer_id}")
            if s.scalar(select(User.id).where(User.username == username)) is not None:
                raise Conflict(f"username {username!r} is taken")
            u = User(username=username, password_hash=PH.hash(password) if password else None, role=role,
                     merchant_id=merchant_id if role == "merchant" else None,
                     buyer_id=buyer_id if role == "buyer" else None)
            s.add(u)
            s.flush()
            audit.append(s, actor=actor.label, action="create_user", data={"user_id": u.id, "role": role})
            return u.id

    def issue_token(self, actor: Actor, user_id: int, name: str = "") -> str:
        if not (actor.role in (Role.ADMIN, Role.SYSTEM) or actor.user_id == user_id):
            raise Forbidden("only an admin issues tokens for other users")
        token = "cl_" + secrets.token_urlsafe(32)
        with self.db.session() as s:
            if s.get(User, user_id) is None:
                raise NotFound("user not found")
            s.add(ApiToken(user_id=user_id, token_hash=token_hash(token), name=name))
            audit.append(s, actor=actor.label, action="issue_token", data={"user_id": user_id})
        return token

    @staticmethod
    def _actor(u: User) -> Actor:
        return Actor(Role(u.role), u.id, u.username, u.merchant_id, u.buyer_id)

    def cached_actor(self, token: str) -> Actor | None:
        """The token's user when this process checked the token within the last token_cache_s, else None."""
        hit = self._token_cache.get(token_hash(token))
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        return None

    def actor_for_token(self, token: str) -> Actor | None:
        """The token's user (None: unknown, revoked or disabled).

        Answers are cached for settings.token_cache_s. A revocation made through this process takes effect at
        once; other processes (uvicorn workers, other hosts) may accept the token until their cached answer
        runs out, token_cache_s at most.
        """
        h = token_hash(token)
        now = time.monotonic()
        hit = self._token_cache.get(h)
        if hit is not None and hit[1] > now:
            return hit[0]
        gen = self._revocations
        actor = self._actor_for_token(h)
        ttl = self.store.settings.token_cache_s
        if actor is not None and ttl > 0:
            with self._token_lock:
                if gen == self._revocations:  # no revocation ran while we looked: the answer may be kept
                    if len(self._token_cache) > 10_000:
                        self._token_cache.clear()
                    self._token_cache[h] = (actor, now + ttl)
        return actor

    def _forget_tokens(self, hashes=(), user_id: int | None = None) -> None:
        with self._token_lock:
            self._revocations += 1
            for h in hashes:
                self._token_cache.pop(h, None)
            if user_id is not None:
                for h in [h for h, (a, _) in self._token_cache.items() if a.user_id == user_id]:
                    self._token_cache.pop(h, None)

    def revoke_token(self, actor: Actor, token: str) -> None:
        """Revoke one API token: its holder or an admin. Refused from this process's next request on."""
        h = token_hash(token)
        with self.db.session() as s:
            t = s.execute(select(ApiToken).where(ApiToken.token_hash == h)).scalar_one_or_none()
            if t is None or not (actor.role in (Role.ADMIN, Role.SYSTEM) or actor.user_id == t.user_id):
                raise NotFound("token not found")
            if not t.revoked:
                t.revoked = True
                audit.append(s, actor=actor.label, action="revoke_token", data={"user_id": t.user_id, "token_id": t.id})
        self._forget_tokens(hashes=[h])

    def revoke_user_tokens(self, actor: Actor, user_id: int) -> int:
        """Revoke every API token of a user (an admin, or the user themselves); returns how many."""
        if not (actor.role in (Role.ADMIN, Role.SYSTEM) or actor.user_id == user_id):
            raise Forbidden("only an admin revokes other users' tokens")
        with self.db.session() as s:
            if s.get(User, user_id) is None:
                raise NotFound("user not found")
            rows = s.execute(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked.is_(False))).scalars().all()
            for t in rows:
                t.revoked = True
            audit.append(s, actor=actor.label, action="revoke_tokens", data={"user_id": user_id, "count": len(rows)})
        self._forget_tokens(user_id=user_id)
        return len(rows)

    def _actor_for_token(self, h: str) -> Actor | None:
        with self.db.read() as s:
            u = s.execute(
                select(User).join(ApiToken, ApiToken.user_id == User.id).where(
                    ApiToken.token_hash == h, ApiToken.revoked.is_(False), User.disabled.is_(False))
            ).scalar_one_or_none()
            return None if u is None else self._actor(u)

    def actor_for_user(self, user_id: int) -> Actor | None:
        with self.db.read() as s:
            u = s.get(User, user_id)
            return None if u is None or u.disabled else self._actor(u)

    def login(self, username: str, password: str) -> Actor | None:
        with self.db.read() as s:
            u = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if u is None or u.disabled or not u.password_hash:
            PH.hash("timing-equaliser")
            return None
        try:
            PH.verify(u.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        return self._actor(u)

    # Products and packing evidence ---------------------------------------------------------
    def _merchant_for(self, actor: Actor, merchant_id: int | None) -> int:
        if actor.role is Role.MERCHANT:
            if merchant_id not in (None, actor.merchant_id):
                raise NotFound("merchant not found")
            return actor.merchant_id
        if actor.role in (Role.ADMIN, Role.SYSTEM):
            if merchant_id is None:
                raise Invalid("merchant_id is required")
            return merchant_id
        raise Forbidden(f"a {actor.role.value} may not register products or packing evidence")

    def create_product(self, actor: Actor, sku: str, name: str, merchant_id: int | None = None) -> int:
        mid = self._merchant_for(actor, merchant_id)
        if not sku.strip() or not name.strip():
            raise Invalid("sku and name are required")
        with self.db.session() as s:
            if s.get(Merchant, mid) is None:
                raise Invalid(f"no merchant {mid}")
            if s.scalar(select(Product.id).where(Product.merchant_id == mid, Product.sku == sku)) is not None:
                raise Conflict(f"product {sku!r} already exists")
            p = Product(merchant_id=mid, sku=sku.strip(), name=name.strip())
            s.add(p)
            s.flush()
            audit.append(s, actor=actor.label, action="create_product", data={"product_id": p.id, "merchant_id": mid})
            return p.id

    def _product_dict(self, p: Product) -> dict:
        return {"id": p.id, "merchant_id": p.merchant_id, "sku": p.sku, "name": p.name,
                "photos": [{"id": ph.id, "sha256": ph.blob_sha, "filename": ph.filename} for ph in p.photos]}

    def list_products(self, actor: Actor) -> list[dict]:
        access.check_not_repair_staff(actor)
        q = select(Product).order_by(Product.id)
        if actor.role is Role.MERCHANT:
            q = q.where(Product.merchant_id == actor.merchant_id)
        elif actor.role is Role.BUYER:
            raise Forbidden("a buyer does not list merchants' products")
        with self.db.read() as s:
            return [self._product_dict(p) for p in s.execute(q).scalars()]

    def get_product(self, actor: Actor, product_id: int) -> dict:
        with self.db.read() as s:
            p = s.get(Product, product_id)
            if p is None or actor.role is Role.BUYER:
                raise NotFound("product not found")
            access.check_merchant(actor, p.merchant_id)
            return self._product_dict(p)

    def check_product_write(self, actor: Actor, product_id: int) -> None:
        with self.db.read() as s:
            p = s.get(Product, product_id)
            if p is None:
                raise NotFound("product not found")
            access.check_merchant_write(actor, p.merchant_id)

    def add_product_photos(self, actor: Actor, product_id: int, files: list[Ingested]) -> list[int]:
        from ..cases.media import fingerprint_file

        if not files:
            raise Invalid("no photo given")
        if any(f.kind != "photo" for f in files):
            raise Invalid("reference photos must be photos")
        fps = [fingerprint_file(f.file.path) for f in files]
        with self.db.session() as s:
            p = s.get(Product, product_id)
            if p is None:
                raise NotFound("product not found")
            access.check_merchant_write(actor, p.merchant_id)
            ids = []
            for f, fp in zip(files, fps):
                self._add_blob(s, f, fingerprint=fp)
                ph = ProductPhoto(product_id=p.id, blob_sha=f.sha256, filename=f.file.filename[:300])
                s.add(ph)
                s.flush()
                ids.append(ph.id)
            audit.append(s, actor=actor.label, action="add_reference_photos",
                         data={"product_id": p.id, "sha256": [f.sha256 for f in files]})
            return ids

    def add_packing(self, actor: Actor, order_ref: str, files: list[Ingested], product_id: int | None = None,
                    merchant_id: int | None = None) -> dict:
        """Packing photos and videos for an order; a video's keyframes are extracted and stored as well."""
        from ..cases.media import fingerprint, keyframes

        mid = self._merchant_for(actor, merchant_id)
        if not order_ref.strip():
            raise Invalid("order id is required")
        if not files:
            raise Invalid("no packing evidence given")
        frames: dict[int, list] = {}
        for i, f in enumerate(files):
            if f.kind == "video":
                frames[i] = []
                for t, jpeg in keyframes(f.file.path):
                    sf = self.store.blobs.put_bytes(jpeg, filename=f"{f.file.filename}@{t:.2f}s.jpg")
                    from PIL import Image

                    with Image.open(sf.path) as im:
                        fp, w, h = fingerprint(im), im.width, im.height
                    frames[i].append((t, sf, fp, w, h))
        with self.db.session() as s:
            if product_id is not None:
                p = s.get(Product, product_id)
                if p is None or p.merchant_id != mid:
                    raise NotFound("product not found")
            order = s.execute(select(Order).where(Order.merchant_id == mid, Order.order_ref == order_ref)).scalar_one_or_none()
            if order is None:
                order = Order(merchant_id=mid, order_ref=order_ref.strip(), product_id=product_id)
                s.add(order)
                s.flush()
            elif product_id is not None:
                order.product_id = product_id
            added = []
            for i, f in enumerate(files):
                from ..cases.media import fingerprint_file

                fp = fingerprint_file(f.file.path) if f.kind == "photo" else None
                self._add_blob(s, f, fingerprint=fp)
                pe = PackingEvidence(order_id=order.id, blob_sha=f.sha256, kind=f.kind, filename=f.file.filename[:300])
                s.add(pe)
                s.flush()
                added.append(pe.id)
                for t, sf, fp, w, h in frames.get(i, []):
                    self._add_blob(s, sha=sf.sha256, size=sf.size, kind="photo", content_type="image/jpeg", width=w,
                                   height=h, fingerprint=fp)
                    s.add(PackingEvidence(order_id=order.id, blob_sha=sf.sha256, kind="keyframe", parent_id=pe.id,
                                          frame_time=t, filename=sf.filename[:300]))
            audit.append(s, actor=actor.label, action="add_packing_evidence",
                         data={"order_id": order.id, "sha256": [f.sha256 for f in files]})
            return self._packing_dict(s, order)

    def _packing_dict(self, s, order: Order) -> dict:
        rows = s.execute(select(PackingEvidence).where(PackingEvidence.order_id == order.id)
                         .order_by(PackingEvidence.id)).scalars()
        return {"order_ref": order.order_ref, "merchant_id": order.merchant_id, "product_id": order.product_id,
                "evidence": [{"id": r.id, "kind": r.kind, "sha256": r.blob_sha, "parent_id": r.parent_id,
                              "frame_time": r.frame_time, "filename": r.filename} for r in rows]}

    def get_packing(self, actor: Actor, order_ref: str, merchant_id: int | None = None) -> dict:
        access.check_not_repair_staff(actor)
        if actor.role is Role.MERCHANT:
            merchant_id = actor.merchant_id
        elif actor.role is Role.BUYER:
            raise NotFound("order not found")
        with self.db.read() as s:
            q = select(Order).where(Order.order_ref == order_ref)
            if merchant_id is not None:
                q = q.where(Order.merchant_id == merchant_id)
            order = s.execute(q.limit(1)).scalar_one_or_none()
            if order is None:
                raise NotFound("order not found")
            return self._packing_dict(s, order)

    # Claims --------------------------------------------------------------------------------
    def create_claim(self, actor: Actor, data: ClaimInput, files: list[Ingested],
                     idempotency_key: str | None = None) -> tuple[int, bool]:
        """(claim id, replayed). A repeated Idempotency-Key returns the first claim; nothing is created twice."""
        cid, replayed, _ = self.submit_claim(actor, data, files, idempotency_key)
        return cid, replayed

    def submit_claim(self, actor: Actor, data: ClaimInput, files: list[Ingested],
                     idempotency_key: str | None = None) -> tuple[int, bool, dict | None]:
        """(claim id, replayed, the new claim as the API shows it - None when replayed)."""
        if actor.role is Role.BUYER:
            if data.buyer_id not in (None, actor.buyer_id):
                raise Forbidden("a buyer files claims only for themselves")
            buyer_id = actor.buyer_id
        elif actor.role in (Role.PLATFORM, Role.ADMIN):
            if data.buyer_id is None:
                raise Invalid("buyer_id is required")
            buyer_id = data.buyer_id
        else:
            raise Forbidden(f"a {actor.role.value} may not file claims")
        try:
            ctype = ClaimType(data.type).value
        except ValueError:
            raise Invalid(f"type must be one of {', '.join(t.value for t in ClaimType)}") from None
        cents = parse_amount(data.amount)
        if not data.order_ref or not data.order_ref.strip() or len(data.order_ref) > 120:
            raise Invalid("order_id is required (at most 120 characters)")
        if not files:
            raise Invalid("a claim needs at least one photo or video")
        if len(data.reason) > 5000:
            raise Invalid("reason is longer than 5000 characters")
        req = hashlib.sha256(canonical({"data": data.__dict__, "buyer": buyer_id,
                                        "files": [f.sha256 for f in files]})).hexdigest()
        try:
            return self._create_claim(actor, data, files, idempotency_key, buyer_id, ctype, cents, req)
        except (IntegrityError, self.db.IntegrityError, Conflict):
            # a retry (the claim it made is still open), or a concurrent request with the same key that won
            if idempotency_key:
                replay = self._idempotent(actor, idempotency_key, req)
                if replay is not None:
                    return replay, True, None
            raise

    def _product_merchant(self, product_id: int) -> int | None:
        """The merchant of a product (cached: a product never changes merchant)."""
        mid = self._products.get(product_id)
        if mid is None:
            with self.db.read() as s:
                mid = s.scalar(select(Product.merchant_id).where(Product.id == product_id))
            if mid is not None:
                self._products[product_id] = mid
        return mid

    def _idempotent(self, actor, key, req, s=None) -> int | None:
        def look(s):
            row = s.execute(select(IdempotencyKey).where(IdempotencyKey.user_id == actor.user_id,
                                                         IdempotencyKey.key == key)).scalar_one_or_none()
            if row is None:
                return None
            if row.request_hash != req:
                raise Conflict("Idempotency-Key was already used for a different request")
            return row.claim_id

        if s is not None:
            return look(s)
        with self.db.read() as s2:
            return look(s2)

    def _create_claim(self, actor, data, files, key, buyer_id, ctype, cents, req) -> tuple[int, bool, dict | None]:
        """Validate, then hand the claim to the intake writer (see IntakeWriter) and wait for its commit.

        A repeated Idempotency-Key is found by the unique key row (the caller looks the first claim up then), so
        a new claim costs no look-up for it.
        """
        if key is not None and (not key.strip() or len(key) > 200):
            raise Invalid("Idempotency-Key must have 1 to 200 characters")
        merchant_id = self._product_merchant(data.product_id)
        if merchant_id is None or (data.merchant_id is not None and data.merchant_id != merchant_id):
            raise Invalid("unknown product for this merchant")
        now = utcnow()
        order_ref = data.order_ref.strip()
        row = dict(CLAIM_DEFAULTS, order_ref=order_ref, buyer_id=buyer_id, merchant_id=merchant_id,
                   product_id=data.product_id, type=ctype, amount_cents=cents,
                   currency=(data.currency or "EUR").upper()[:3], reason=data.reason or "",
                   state=State.SUBMITTED.value, created_by=actor.user_id, created_at=now, updated_at=now)
        item = NewClaim(actor, row, files, key, req, check_buyer=actor.role is not Role.BUYER)
        self._intake.write(item)
        out = self._summary_dict(row)
        out["media"] = [{"id": m["id"], "kind": m["kind"], "sha256": m["blob_sha"], "filename": m["filename"],
                         "round": 1, "parent_id": None, "frame_time": None, "analysis": None} for m in item.media]
        out["allowed_actions"] = allowed_actions(State.SUBMITTED.value, actor.role)
        return row["id"], False, out

    def _load_claim(self, s, actor: Actor, claim_id: int, lock: bool = False) -> Claim:
        q = select(Claim).where(Claim.id == claim_id)
        if lock:
            q = q.with_for_update()
        c = s.execute(q).scalar_one_or_none()
        if c is None:
            raise NotFound("claim not found")
        access.check_claim(actor, c.merchant_id, c.buyer_id)
        return c

    def list_claims(self, actor: Actor, state: str | None = None, limit: int = 100, offset: int = 0) -> list[dict]:
        access.check_not_repair_staff(actor)
        q = select(Claim).order_by(Claim.id.desc()).limit(min(max(limit, 1), 500)).offset(max(offset, 0))
        if actor.role is Role.MERCHANT:
            q = q.where(Claim.merchant_id == actor.merchant_id)
        elif actor.role is Role.BUYER:
            q = q.where(Claim.buyer_id == actor.buyer_id)
        if state:
            q = q.where(Claim.state == State(state).value)
        with self.db.read() as s:
            return [self._claim_summary(c) for c in s.execute(q).scalars()]

    @staticmethod
    def _summary_dict(c: dict) -> dict:
        """_claim_summary of a claim row given as a dict."""
        deadline = c["merchant_deadline"]
        return {"id": c["id"], "order_id": c["order_ref"], "buyer_id": c["buyer_id"], "merchant_id": c["merchant_id"],
                "product_id": c["product_id"], "type": c["type"], "amount": f"{c['amount_cents'] / 100:.2f}",
                "currency": c["currency"], "reason": c["reason"], "state": c["state"], "outcome": c["outcome"],
                "risk": c["risk"], "verdict": c["verdict"],
                "merchant_deadline": deadline.isoformat() if deadline else None,
                "created_at": c["created_at"].isoformat(), "updated_at": c["updated_at"].isoformat(),
                "version": c["version"]}

    @staticmethod
    def _claim_summary(c: Claim) -> dict:
        return {"id": c.id, "order_id": c.order_ref, "buyer_id": c.buyer_id, "merchant_id": c.merchant_id,
                "product_id": c.product_id, "type": c.type, "amount": f"{c.amount_cents / 100:.2f}",
                "currency": c.currency, "reason": c.reason, "state": c.state, "outcome": c.outcome,
                "risk": c.risk, "verdict": c.verdict,
                "merchant_deadline": c.merchant_deadline.isoformat() if c.merchant_deadline else None,
                "created_at": c.created_at.isoformat(), "updated_at": c.updated_at.isoformat(), "version": c.version}

    def claim_detail(self, actor: Actor, claim_id: int) -> dict:
        from .models import Analysis

        with self.db.read() as s:
            c = self._load_claim(s, actor, claim_id)
            d = self._claim_summary(c)
            analyses = {a.media_id: a for a in s.execute(select(Analysis).where(Analysis.claim_id == c.id)).scalars()}
            media = s.execute(select(ClaimMedia).where(ClaimMedia.claim_id == c.id).order_by(ClaimMedia.id)).scalars()
            d["media"] = []
            for m in media:
                a = analyses.get(m.id)
                d["media"].append({
                    "id": m.id, "kind": m.kind, "sha256": m.blob_sha, "filename": m.filename, "round": m.round,
                    "parent_id": m.parent_id, "frame_time": m.frame_time,
                    "analysis": None if a is None else {"risk": a.risk, "verdict": a.verdict, "reused": a.reused,
                                                        "heatmap_sha256": a.heatmap_sha, "document": a.document}})
            d["decisions"] = [self._decision_dict(x) for x in s.execute(
                select(Decision).where(Decision.claim_id == c.id).order_by(Decision.id)).scalars()]
            d["timeline"] = [{"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "from": e.from_state,
                              "to": e.to_state, "reason": e.reason} for e in audit.claim_entries(s, c.id)]
            d["allowed_actions"] = allowed_actions(c.state, actor.role)
            return d

    @staticmethod
    def _decision_dict(x: Decision) -> dict:
        return {"id": x.id, "action": x.action, "outcome": x.outcome, "automatic": x.automatic, "actor": x.actor,
                "reason": x.reason, "explanation": x.explanation, "forgery_confirmed": x.forgery_confirmed,
                "at": x.created_at.isoformat()}

    def media_file(self, actor: Actor, claim_id: int, media_id: int) -> tuple[str, str]:
        """(path, content type) of one photo or video of a claim the actor may see."""
        with self.db.read() as s:
            self._load_claim(s, actor, claim_id)
            m = s.get(ClaimMedia, media_id)
            if m is None or m.claim_id != claim_id:
                raise NotFound("media not found")
            b = s.get(Blob, m.blob_sha)
            return str(self.store.blobs.path(m.blob_sha)), b.content_type

    def apply(self, s, claim: Claim, actor: Actor, action: str, reason: str = "", *, data: dict | None = None,
              explanation: list | None = None, forgery_confirmed: bool = False, automatic: bool = False,
              now: dt.datetime | None = None):
        """The only place a claim changes state: table check, audit entry, decision record."""
        t = transition_for(claim.state, action, actor.role, reason)
        old = claim.state
        claim.state = t.target.value
        claim.outcome = outcome_after(t, claim.outcome)
        audit.append(s, actor=actor.label, action=action, claim_id=claim.id, from_state=old, to_state=claim.state,
                     reason=reason, data=data, now=now)
        if t.decision or explanation is not None:
            s.add(Decision(claim_id=claim.id, action=action, outcome=claim.outcome if t.decision else None,
                           automatic=automatic or actor.role is Role.SYSTEM, actor=actor.label,
                           actor_user_id=actor.user_id, reason=reason, explanation=explanation,
                           forgery_confirmed=forgery_confirmed))
        return t

    def act(self, actor: Actor, claim_id: int, action: str, reason: str = "", forgery_confirmed: bool = False,
            now: dt.datetime | None = None) -> dict:
        now = now or utcnow()
        if action == "provide_evidence":
            raise Invalid("send new evidence to /claims/{id}/evidence")
        with self.db.session() as s:
            c = self._load_claim(s, actor, claim_id, lock=True)
            t = transition_for(c.state, action, actor.role, reason)
            if action.startswith("merchant_") and c.merchant_deadline and now > c.merchant_deadline:
                raise DeadlinePassed(f"the merchant's answer window closed at {c.merchant_deadline.isoformat()}")
            if forgery_confirmed and not (t.decision in ("rejected", "upheld") and actor.role in (Role.REVIEWER, Role.ADMIN)):
                raise Invalid("only a reviewer's rejection can confirm a forgery")
            self.apply(s, c, actor, action, reason, forgery_confirmed=forgery_confirmed, now=now,
                       data={"forgery_confirmed": True} if forgery_confirmed else None)
            if action.startswith("merchant_"):
                c.merchant_answered_at = now
            s.flush()
            return self._claim_summary(c)

    def add_evidence(self, actor: Actor, claim_id: int, files: list[Ingested], reason: str = "") -> dict:
        if not files:
            raise Invalid("no evidence given")
        with self.db.session() as s:
            c = self._load_claim(s, actor, claim_id, lock=True)
            c.evidence_round += 1
            self.apply(s, c, actor, "provide_evidence", reason,
                       data={"sha256": [f.sha256 for f in files], "round": c.evidence_round})
            for f in files:
                self._add_blob(s, f)
                s.add(ClaimMedia(claim_id=c.id, blob_sha=f.sha256, kind=f.kind, filename=f.file.filename[:300],
                                 round=c.evidence_round))
            self.store.jobs.enqueue(s, "analyse_claim", {"claim_id": c.id}, claim_id=c.id)
            s.flush()
            return self._claim_summary(c)

    def expire_deadlines(self, now: dt.datetime | None = None) -> int:
        """Claims whose merchant did not answer in time go to a reviewer."""
        now = now or utcnow()
        with self.db.read() as s:
            ids = list(s.execute(select(Claim.id).where(Claim.state == State.AWAITING_MERCHANT.value,
                                                        Claim.merchant_deadline < now)).scalars())
        for cid in ids:
            with self.db.session() as s:
                c = s.execute(select(Claim).where(Claim.id == cid).with_for_update()).scalar_one()
                if c.state == State.AWAITING_MERCHANT.value and c.merchant_deadline and c.merchant_deadline < now:
                    self.apply(s, c, SYSTEM, "merchant_window_expired",
                               f"the merchant did not answer by {c.merchant_deadline.isoformat()}", now=now)
        return len(ids)

    def stats(self) -> dict:
        with self.db.read() as s:
            rows = s.execute(select(Claim.state, func.count()).group_by(Claim.state)).all()
            return {state: n for state, n in rows}


def allowed_actions(state: str, role: Role) -> list[str]:
    from ..cases.workflow import TRANSITIONS

    return sorted({t.action for t in TRANSITIONS if State(state) in t.source and role in t.roles})
