from claimlens.store.testing import *  # noqa: F401,F403  (db_url, store, pg_databases fixtures)
