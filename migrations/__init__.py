"""Alembic migrations of the job table, shipped as visionati_sync.migrations."""

# The newest revision. Start-up compares the database with it before importing Alembic (a
# third of a command's start-up); a test keeps it equal to the head of versions/.
HEAD = "0009"
