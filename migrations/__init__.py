"""Alembic migrations of the job table, shipped as visionati_sync.migrations."""
