"""Alembic migrations: one revision per schema change, applied by `kycbot db upgrade`."""
