"""Alembic migrations of the Instagram Monitor schema."""
