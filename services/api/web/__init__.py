"""The dashboard: server-rendered pages over the same services the API's routes use."""
