"""Engine and sessions for SQLite (embedded) and PostgreSQL, with the same transaction semantics."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


class Database:
    def __init__(self, url: str, echo: bool = False):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = make_url(url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(
                url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8, max_overflow=16
            )
            self._sqlite_setup(self.engine)
        else:
            self.engine = create_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time: threads queue here instead of sleeping in SQLite's busy handler
        self._write_lock = threading.RLock() if self.is_sqlite else None

    @staticmethod
    def _sqlite_setup(engine):
        # WAL: readers never block the writer; a killed process loses no committed transaction.
        # Every transaction takes the write lock at BEGIN (IMMEDIATE) so read-then-write cannot race.
        @event.listens_for(engine, "connect")
        def on_connect(dbapi_conn, _rec):
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def on_begin(conn):
            mode = "DEFERRED" if conn.get_execution_options().get("readonly") else "IMMEDIATE"
            conn.exec_driver_sql(f"BEGIN {mode}")

    @contextlib.contextmanager
    def session(self):
        """A write transaction: committed on success, rolled back on error."""
        if self._write_lock is None:
            with self.Session() as s:
                with s.begin():
                    yield s
            return
        with self._write_lock:
            with self.Session() as s:
                with s.begin():
                    yield s

    @contextlib.contextmanager
    def raw_transaction(self):
        """A write transaction on a pooled DB-API connection (yields its cursor): for `Prepared` statements."""
        with self._write_lock or contextlib.nullcontext():
            conn = self.engine.raw_connection()
            try:
                cur = conn.cursor()
                if self.is_sqlite:
                    cur.execute("BEGIN IMMEDIATE")
                try:
                    yield cur
                    cur.close()  # SQLite: a RETURNING statement stays open until its cursor is closed
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
            finally:
                conn.close()

    @property
    def dialect(self):
        return self.engine.dialect

    @property
    def IntegrityError(self):
        """The driver's integrity error (raised by `Prepared` statements)."""
        return self.engine.dialect.dbapi.IntegrityError

    @contextlib.contextmanager
    def read(self):
        """A read-only transaction (on SQLite it does not take the write lock)."""
        with self.Session() as s:
            if self.is_sqlite:
                s.connection(execution_options={"readonly": True})
            yield s  # closing the session ends the transaction; loaded objects stay readable

    def dispose(self):
        self.engine.dispose()


class Prepared:
    """A Core statement compiled once per dialect and run straight on a DB-API cursor (hot paths only).

    Skips SQLAlchemy's per-execution work; the column types still convert the parameters (UTC times, JSON).
    Binds not given take the value they were built with. `stmt` may be a dict of statements by dialect name.
    """

    def __init__(self, stmt):
        self.stmt = stmt
        self._plans: dict[str, tuple] = {}

    def _plan(self, dialect):
        plan = self._plans.get(dialect.name)
        if plan is None:
            stmt = self.stmt[dialect.name] if isinstance(self.stmt, dict) else self.stmt
            c = stmt.compile(dialect=dialect)
            names = list(c.positiontup) if c.positional else list(c.binds)
            binds = {n: c.binds[n] for n in names}
            procs = {n: b.type.dialect_impl(dialect).bind_processor(dialect) for n, b in binds.items()}
            escaped = getattr(c, "escaped_bind_names", None) or {}
            plan = (c.string, c.positional, names, {n: b.value for n, b in binds.items()}, procs, escaped)
            self._plans[dialect.name] = plan
        return plan

    def run(self, cur, dialect, params: dict):
        sql, positional, names, defaults, procs, escaped = self._plan(dialect)
        vals = []
        for n in names:
            v = params[n] if n in params else defaults[n]
            p = procs[n]
            vals.append(v if p is None or v is None else p(v))
        cur.execute(sql, vals if positional else {escaped.get(n, n): v for n, v in zip(names, vals)})
        return cur

    def run_many(self, cur, dialect, rows: list[dict]):
        sql, positional, names, defaults, procs, escaped = self._plan(dialect)
        args = []
        for params in rows:
            vals = []
            for n in names:
                v = params[n] if n in params else defaults[n]
                p = procs[n]
                vals.append(v if p is None or v is None else p(v))
            args.append(vals if positional else {escaped.get(n, n): v for n, v in zip(names, vals)})
        cur.executemany(sql, args)
        return cur

    def first(self, cur, dialect, params: dict):
        """The first result row or None (the rest is read too: SQLite cannot commit with a statement open)."""
        rows = self.run(cur, dialect, params).fetchall()
        return rows[0] if rows else None
