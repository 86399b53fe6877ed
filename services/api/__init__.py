"""The REST API: task management and metric history over HTTP (contract: api.md)."""
