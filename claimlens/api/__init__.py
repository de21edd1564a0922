"""The HTTP API (FastAPI): claims, evidence, products, users, audit and credit records."""
