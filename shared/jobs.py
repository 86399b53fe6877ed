"""The job contract between the scheduler (which enqueues) and the collector (which runs)."""

from datetime import datetime

COLLECT_FUNCTION = "collect"


def collect_job_id(task_id: str, scheduled_for: datetime) -> str:
    """The job id of one slot; arq refuses a second job with the same id."""
    return f"collect:{task_id}:{int(scheduled_for.timestamp())}"
