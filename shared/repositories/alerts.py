"""Alert rules and the follower milestones profiles have reached."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Alert, AlertCondition, AlertState, InfluencerMilestone


class AlertRepository:
    """Alert queries; the caller commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(
        self,
        *,
        task_id: str,
        metric: str,
        condition: AlertCondition,
        threshold: float,
        window: str | None,
        cooldown_seconds: int,
        now: datetime,
    ) -> Alert:
        """Store a new alert, in state ok."""
        alert = Alert(
            task_id=task_id,
            metric=metric,
            condition=condition,
            threshold=threshold,
            window=window,
            cooldown_seconds=cooldown_seconds,
            state=AlertState.OK,
            created_at=now,
        )
        self.session.add(alert)
        await self.session.flush()
        return alert

    async def get(self, alert_id: str) -> Alert | None:
        return await self.session.get(Alert, alert_id)

    async def all(self, *, task_id: str | None = None) -> list[Alert]:
        """Every alert (of one task, when given), oldest first."""
        query = select(Alert).order_by(Alert.created_at, Alert.id)
        if task_id is not None:
            query = query.where(Alert.task_id == task_id)
        return list(await self.session.scalars(query))

    async def delete(self, alert_id: str) -> bool:
        """Delete an alert; False when there was none."""
        result = await self.session.execute(delete(Alert).where(Alert.id == alert_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def lock_of_tasks(self, task_ids: Sequence[str]) -> list[Alert]:
        """The alerts of these tasks, locked until the commit, in (task, alert) order so that
        two writers lock them in the same order."""
        if not task_ids:
            return []
        query = (
            select(Alert)
            .where(Alert.task_id.in_(task_ids))
            .order_by(Alert.task_id, Alert.id)
            .with_for_update()
        )
        return list(await self.session.scalars(query))


class MilestoneRepository:
    """Milestone queries; the caller commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_of_tasks(self, task_ids: Sequence[str]) -> dict[str, InfluencerMilestone]:
        """The milestones these profiles have reached, locked until the commit."""
        if not task_ids:
            return {}
        query = (
            select(InfluencerMilestone)
            .where(InfluencerMilestone.task_id.in_(task_ids))
            .order_by(InfluencerMilestone.task_id)
            .with_for_update()
        )
        return {row.task_id: row for row in await self.session.scalars(query)}

    async def add(self, task_id: str, milestone: int, *, now: datetime) -> None:
        """Note the first milestone a profile is seen at."""
        self.session.add(InfluencerMilestone(task_id=task_id, milestone=milestone, reached_at=now))
        await self.session.flush()
