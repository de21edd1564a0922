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
    def read(self):
        """A read-only transaction (on SQLite it does not take the write lock)."""
        with self.Session() as s:
            if self.is_sqlite:
                s.connection(execution_options={"readonly": True})
            yield s  # closing the session ends the transaction; loaded objects stay readable

    def dispose(self):
        self.engine.dispose()
