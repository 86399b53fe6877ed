"""Reads run by the driver itself on a connection SQLAlchemy checked out: the API's history and
statistics reads, whose SQLAlchemy execution (and an ORM session around it) cost more of its
CPU than MySQL's answers."""

import functools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import asyncmy.errors
from asyncmy.connection import Connection as AsyncmyConnection
from sqlalchemy import Select
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql.expression import CompoundSelect

Query = Select[Any] | CompoundSelect[Any]
# Named parameters (%(name)s), which the driver binds from a dict itself.
_NAMED_PARAMETERS = mysql.dialect(paramstyle="pyformat")


@dataclass(frozen=True, slots=True)
class _DriverStatement:
    sql: str
    # The values the statement itself holds (a literal limit, an enum compared with), as
    # SQLAlchemy would bind them; the caller's parameters are the named ones.
    fixed: dict[str, Any]
    # What SQLAlchemy would make of the driver's values: by the position of each selected
    # column whose type converts them (the others are used as the driver reads them).
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]

    def parameters(self, named: dict[str, Any]) -> dict[str, Any]:
        return {**self.fixed, **named} if self.fixed else named


@functools.cache
def _driver_statement(query: Query) -> _DriverStatement:
    # Compiled once per statement: the reads that use it run on every request.
    compiled = query.compile(dialect=_NAMED_PARAMETERS)
    fixed = {}
    for name, bind in compiled.binds.items():
        if not bind.required:
            process = bind.type.bind_processor(_NAMED_PARAMETERS)
            fixed[name] = bind.value if process is None else process(bind.value)
    processors = (
        (position, column.type.result_processor(_NAMED_PARAMETERS, None))
        for position, column in enumerate(query.selected_columns)
    )
    converting = tuple((position, process) for position, process in processors if process)
    return _DriverStatement(str(compiled), fixed, converting)


class DriverReads:
    """Statements run by the driver on one checked-out connection, in whatever transaction it
    is in. Parameters go to the driver as they are: times as naive UTC."""

    def __init__(self, driver: AsyncmyConnection) -> None:
        self.driver = driver

    @classmethod
    async def of(cls, connection: AsyncConnection) -> "DriverReads":
        """The reads of a Core connection (a session's, or one of its own)."""
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None, "a checked-out connection has its driver's connection"
        return cls(cast(AsyncmyConnection, driver))

    @classmethod
    async def of_session(cls, session: AsyncSession) -> "DriverReads":
        """The reads of a session's connection, in its transaction."""
        return await cls.of(await session.connection())

    async def rows(self, query: Query, parameters: dict[str, Any]) -> Sequence[tuple[Any, ...]]:
        """The rows of `query` as the driver's tuples, no value converted."""
        statement = _driver_statement(query)
        return await self._fetch(statement.sql, statement.parameters(parameters))

    async def typed_rows(self, query: Query, parameters: dict[str, Any]) -> list[list[Any]]:
        """The rows of `query` with each value as the selected column's type reads it (aware
        UTC times, enums, booleans), as SQLAlchemy's own execution would return them."""
        statement = _driver_statement(query)
        found = await self._fetch(statement.sql, statement.parameters(parameters))
        rows = [list(row) for row in found]
        for position, process in statement.processors:
            for row in rows:
                row[position] = process(row[position])
        return rows

    async def _fetch(self, sql: str, parameters: dict[str, Any]) -> Sequence[tuple[Any, ...]]:
        try:
            async with self.driver.cursor() as cursor:
                await cursor.execute(sql, parameters)
                return cast(Sequence[tuple[Any, ...]], await cursor.fetchall())
        except asyncmy.errors.Error as error:
            # As SQLAlchemy's execution would raise it (a lost connection: OperationalError).
            raise DBAPIError.instance(sql, parameters, error, asyncmy.errors.Error) from error


@asynccontextmanager
async def driver_reads(engine: AsyncEngine) -> AsyncIterator[DriverReads]:
    """Reads on a connection of their own, without an ORM session: checked out of the pool
    (pinged first) and rolled back as it returns, which ends the reads' transaction."""
    async with engine.connect() as connection:
        yield await DriverReads.of(connection)
