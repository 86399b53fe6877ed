"""A fake TikHub API for development and end-to-end tests: deterministic, with fault knobs."""
