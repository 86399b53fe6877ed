"""HTTP routes: a few lines each, the work is done in the services."""
