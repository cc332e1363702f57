"""Queries the ORM compiles once per process, for the few reads and updates that every crowd request runs.

Building and compiling a queryset costs 0.6-0.8 ms of CPU in Python (joins, lookups, quoting), for a query the
database answers in 0.1-0.3 ms. A ``PreparedQuery`` lets the ORM build its query once, with marker arguments, and
keeps the SQL; later calls run that SQL with their own values put where the markers were. The SQL is the ORM's, so
it follows the models. ``first`` gives the row as the database driver gives it (no field conversion: use it for
numbers, booleans, text and ids, not for values that need the field's ``from_db_value``); ``instance`` gives the
model instance the queryset would, its ``select_related`` objects attached and every field converted by the ORM's
own converters. A ``PreparedUpdate`` does the same for a ``queryset.update(**values)``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from django.db import connections, transaction
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.models.sql import UpdateQuery
from django.db.transaction import TransactionManagementError


def _markers(kinds: tuple[type, ...]) -> list:
    """Values no real argument takes, one per argument, of the argument's type."""
    out = []
    for index, kind in enumerate(kinds):
        if kind is int:
            # Within a 32-bit integer column's range: the ORM turns an out-of-range lookup into "no rows", no SQL.
            out.append(-(2**31) + 7 + index)
        elif kind is str:
            out.append(f"\x00prepared-marker-{index}")
        elif kind is datetime:
            out.append(datetime(1901, 1, 1, 0, 0, index, 123457, tzinfo=UTC))
        else:
            raise TypeError(f"PreparedQuery takes int, str or datetime arguments, not {kind.__name__}")
    return out


class _InstanceLoader:
    """What ``ModelIterable`` works out from a compiled queryset before its first row, worked out once: the SQL, the
    columns of each model, the related populators and the field converters. Holds no connection (threads share it).
    """

    def __init__(self, queryset: QuerySet, connection, markers: list, adapt: Callable):
        compiler = queryset.query.get_compiler(connection=connection)
        self.sql, params = compiler.as_sql()
        self.slots = _slots(params, [adapt(connection, marker) for marker in markers])
        select, klass_info = compiler.select, compiler.klass_info
        self.model: type[Model] = klass_info["model"]
        fields = klass_info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.init_list = [column[0].target.attname for column in select[self.start : self.end]]
        self.populators = get_related_populators(klass_info, select, connection.alias)
        self.annotations = list(compiler.annotation_col_map.items())
        self.converters = list(compiler.get_converters([column[0] for column in select[: compiler.col_count]]).items())
        features = connection.features
        # As the ORM: a lock outside a transaction is refused where the database has locks and transactions.
        self.for_update = queryset.query.select_for_update and features.has_select_for_update
        self.for_update = self.for_update and features.supports_transactions

    def load(self, row, connection) -> Model:
        if self.converters:
            row = list(row)
            for position, (converters, expression) in self.converters:
                value = row[position]
                for converter in converters:
                    value = converter(value, expression, connection)
                row[position] = value
        instance = self.model.from_db(connection.alias, self.init_list, row[self.start : self.end])
        for populator in self.populators:
            populator.populate(row, instance)
        for name, position in self.annotations:
            setattr(instance, name, row[position])
        return instance


def _slots(params, adapted_markers: list) -> list:
    """Where each SQL parameter comes from: ("arg", index) for an argument's marker, ("const", value) otherwise."""
    slots = []
    for param in params:
        index = next((i for i, marker in enumerate(adapted_markers) if param == marker), None)
        slots.append(("arg", index) if index is not None else ("const", param))
    if {index for kind, index in slots if kind == "arg"} != set(range(len(adapted_markers))):
        raise ValueError("Every argument of a PreparedQuery must reach the SQL as a parameter.")
    return slots


class _Prepared:
    """What a prepared read and a prepared update share: the build, the arguments' types, the SQL per vendor."""

    def __init__(self, build: Callable, *kinds: type, using: str = "default"):
        self.build, self.kinds, self.using = build, kinds, using
        self._compiled: dict[str, tuple[str, list]] = {}  # per database vendor (tests switch databases)

    def _adapt(self, connection, value):
        if isinstance(value, datetime):
            return connection.ops.adapt_datetimefield_value(value)
        return value

    def _compile(self, connection) -> tuple[str, list]:
        raise NotImplementedError

    def _sql(self, connection, args: tuple) -> tuple[str, list]:
        """The SQL compiled once (on this call if first) and this call's parameters."""
        compiled = self._compiled.get(connection.vendor)
        if compiled is None:
            compiled = self._compiled[connection.vendor] = self._compile(connection)
        sql, slots = compiled
        return sql, self._params(connection, slots, args)

    def _params(self, connection, slots: list, args: tuple) -> list:
        return [self._adapt(connection, args[value]) if kind == "arg" else value for kind, value in slots]


class PreparedQuery(_Prepared):
    """``build(*args)`` returns a queryset whose SQL depends on its arguments' values only (never their types or
    whether they are None); ``kinds`` are the arguments' types. ``first(*args)`` returns the first row or None;
    ``instance(*args)`` the first model instance or None (``select_for_update`` is kept, inside a transaction only).
    """

    def __init__(self, build: Callable[..., QuerySet], *kinds: type, using: str = "default"):
        super().__init__(build, *kinds, using=using)
        self._loaders: dict[str, _InstanceLoader] = {}

    def _compile(self, connection) -> tuple[str, list]:
        markers = _markers(self.kinds)
        sql, params = self.build(*markers).query.sql_with_params()
        return sql, _slots(params, [self._adapt(connection, marker) for marker in markers])

    @staticmethod
    def _fetchone(connection, sql: str, params: list):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()

    def first(self, *args):
        connection = connections[self.using]
        return self._fetchone(connection, *self._sql(connection, args))

    def instance(self, *args) -> Model | None:
        connection = connections[self.using]
        loader = self._loaders.get(connection.vendor)
        if loader is None:
            markers = _markers(self.kinds)
            loader = _InstanceLoader(self.build(*markers), connection, markers, self._adapt)
            self._loaders[connection.vendor] = loader
        if loader.for_update and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        row = self._fetchone(connection, loader.sql, self._params(connection, loader.slots, args))
        return None if row is None else loader.load(row, connection)


class PreparedUpdate(_Prepared):
    """``build(*args)`` returns ``(queryset, values)`` of a ``queryset.update(**values)`` whose SQL depends on its
    arguments' values only; ``run(*args)`` runs that update and returns the number of rows it changed.

    For updates of one table by its own columns (a pk, a state): one that needs a join or updates a parent table
    of a model is refused (the ORM would run more than one statement for it).
    """

    def __init__(self, build: Callable[..., tuple[QuerySet, dict]], *kinds: type, using: str = "default"):
        super().__init__(build, *kinds, using=using)

    def _compile(self, connection) -> tuple[str, list]:
        markers = _markers(self.kinds)
        queryset, values = self.build(*markers)
        query = queryset.query.chain(UpdateQuery)
        query.add_update_values(values)
        query.clear_select_clause()
        sql, params = query.get_compiler(connection=connection).as_sql()
        if query.related_updates or len(query.alias_map) > 1:
            raise ValueError("A PreparedUpdate updates one table, filtered by its own columns.")
        return sql, _slots(params, [self._adapt(connection, marker) for marker in markers])

    def run(self, *args) -> int:
        connection = connections[self.using]
        sql, params = self._sql(connection, args)
        with transaction.mark_for_rollback_on_error(using=self.using), connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount
