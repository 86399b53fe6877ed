"""The scheduler: claims due tasks from MySQL and enqueues one collection job per due slot."""
