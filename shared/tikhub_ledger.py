"""The TikHub usage ledger as every service reads it: MySQL rows plus the Redis counts the
collectors have not flushed yet.

The collector counts each call in one Redis hash, three fields per (day, task, endpoint, key):
`<day>|<task>|<endpoint>|<fingerprint>|c` (calls), `…|b` (billed calls) and `…|u` (cost in
millionths of a dollar). A flush renames that hash to a batch key, adds the batch to MySQL
together with its id (so a retried flush adds nothing twice) and deletes it.
"""

from datetime import date

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from shared.redis_keys import RedisKeys
from shared.repositories.usage import UsageCount, UsageCounts, UsageKey, UsageRepository

MEASURES = {"c": "calls", "b": "billable_calls", "u": "cost_micro_usd"}


def field_prefix(key: UsageKey) -> str:
    """The part of a hash field that names the row; a measure letter follows."""
    return f"{key.day.isoformat()}|{key.task_id}|{key.endpoint}|{key.key_fingerprint}|"


def parse_counts(raw: dict[bytes, bytes]) -> UsageCounts:
    """A pending or batch hash as counts."""
    counts: UsageCounts = {}
    for field, value in raw.items():
        day, task_id, endpoint, fingerprint, measure = field.decode().split("|")
        key = UsageKey(date.fromisoformat(day), task_id, endpoint, fingerprint)
        count = counts.setdefault(key, UsageCount())
        setattr(count, MEASURES[measure], getattr(count, MEASURES[measure]) + int(value))
    return counts


def merge(*parts: UsageCounts) -> UsageCounts:
    """The sum of several sets of counts."""
    total: UsageCounts = {}
    for part in parts:
        for key, count in part.items():
            total.setdefault(key, UsageCount()).add(count)
    return total


# The pending hash and every batch not yet deleted, read at one instant: a flush moving the
# pending hash into a batch between two reads would count it twice or not at all.
READ_SCRIPT = """
local out = {redis.call('HGETALL', KEYS[1])}
for _, batch_id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  table.insert(out, batch_id)
  table.insert(out, redis.call('HGETALL', ARGV[1] .. batch_id))
end
return out
"""


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


async def unflushed_counts(redis: Redis, keys: RedisKeys, session: AsyncSession) -> UsageCounts:
    """The counts in Redis that MySQL does not have yet: the pending hash and every batch
    whose flush has not been committed.

    Redis is read before MySQL, and MySQL in one snapshot: a batch committed meanwhile is then
    either in MySQL's rows and its applied list, or in neither, and counted once either way.
    """
    raw = await redis.eval(  # type: ignore[misc]
        READ_SCRIPT,
        2,
        keys.tikhub_usage_pending,
        keys.tikhub_usage_batches,
        keys.tikhub_usage_batch(""),
    )
    pending, rest = raw[0], raw[1:]
    batches = {rest[i].decode(): _pairs(rest[i + 1]) for i in range(0, len(rest), 2)}
    applied = await UsageRepository(session).applied_batches(batches)
    waiting = [
        parse_counts(fields) for batch_id, fields in batches.items() if batch_id not in applied
    ]
    return merge(parse_counts(_pairs(pending)), *waiting)


async def ledger_since(
    redis: Redis | None,
    keys: RedisKeys,
    session: AsyncSession,
    first_day: date,
    *,
    task_id: str | None = None,
) -> UsageCounts:
    """Every count from `first_day` on, MySQL's and (when Redis is given) the unflushed ones."""
    unflushed: UsageCounts = {}
    if redis is not None:
        unflushed = {
            key: count
            for key, count in (await unflushed_counts(redis, keys, session)).items()
            if key.day >= first_day and (task_id is None or key.task_id == task_id)
        }
    stored = await UsageRepository(session).counts_since(first_day, task_id=task_id)
    return merge(stored, unflushed)
