"""All SQL lives here; callers own the transaction (repositories flush, never commit)."""
