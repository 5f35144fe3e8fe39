"""Alembic environment and revisions for the store's schema."""
