"""One pytest item per spec operation for the schemathesis contract tests, with the server, its
world and the schemathesis schema built in fixtures rather than at import.

schemathesis's eager `schema.parametrize()` needs the schema (and so the world its settings name)
when the module is collected, and builds every operation's test then: seconds of work in every
process that merely collects the suite (each pytest-xdist worker does). Its lazy schema
(`schemathesis.pytest.from_fixture`) takes the schema from a fixture when the test runs, but runs
every operation the schema holds in one item. Here the items are the operations again: each one is
parametrized with its operation's label (read from the spec at collection, which costs
milliseconds) and the lazy schema's filter (`OperationChoice.matches`) lets through only that operation,
so an xdist worker can take any operation on its own and a failure names its operation.
"""

from __future__ import annotations

import functools
import typing as t

import pytest

from mockserver.engine.openapi import HTTP_METHODS
from mockserver.engine.resources import read_yaml, specs_dir


@functools.cache
def operation_labels(spec: str) -> tuple[str, ...]:
    """`METHOD /path` of every operation of `specs/<spec>`, in the spec's order."""
    paths = read_yaml(specs_dir() / spec).get("paths", {})
    return tuple(f"{method.upper()} {path}" for path, item in paths.items()
                 for method in item if method in HTTP_METHODS)


class OperationChoice:
    """A lazy schema's operation filter that matches the operation of the running item only.

    The item's `operation` fixture (see `choose`) sets the label before the test body asks the
    lazy schema for its operations, and clears it afterwards."""

    def __init__(self) -> None:
        self.label: str | None = None

    def matches(self, ctx: t.Any) -> bool:
        operation = ctx.operation
        return f"{operation.method.upper()} {operation.path}" == self.label

    def choose(self, request: pytest.FixtureRequest) -> t.Iterator[str]:
        """For the item's `operation` fixture (indirectly parametrized with the label)."""
        # schemathesis 4.32's lazy test renames the item while it runs through `node._nodeid`, an
        # attribute pytest 9.2's nodes no longer have (they keep their id in `_id`): without it the
        # lazy test fails before it starts. Setting it only serves that renaming (a report label).
        request.node._nodeid = request.node.nodeid
        self.label = request.param
        try:
            yield request.param
        finally:
            self.label = None


def constants_extracted(schema: t.Any) -> t.Any:
    """`schema`, with the constants schemathesis draws from the app's source extracted now.

    Schemathesis reuses literals it finds in the app's modules (and the modules they import) when it
    generates data. It keeps them per schema object, and its lazy test works on a clone of the
    fixture's schema, which takes its original's extraction but keeps its own to itself: without
    this every item parses the app's modules again (~40 ms an item, seconds per module). Extracted
    once on the fixture's schema, every clone shares one pool: the same constants, the same cases."""
    from schemathesis.python._constants.orchestrator import build_constants_pool

    build_constants_pool(schema)
    return schema


def parametrize_operations(metafunc: pytest.Metafunc, fixture: str, spec: str) -> None:
    """Give `fixture` (indirect) one parameter per operation of `specs/<spec>`, named by its label."""
    labels = operation_labels(spec)
    metafunc.parametrize(fixture, labels, ids=labels, indirect=True)


class OneItemPerOperation:
    """What a contract module needs for one item per operation of `specs/<spec>`: the lazy schema
    to parametrize its test with, the `operation` and `contract_schema` fixtures (the schema is the
    module's `world.schema`), and the parametrization its `pytest_generate_tests` hands on."""

    def __init__(self, spec: str) -> None:
        import schemathesis

        self.spec = spec
        choice = OperationChoice()
        self.lazy_schema = schemathesis.pytest.from_fixture("contract_schema").include(choice.matches)

        @pytest.fixture(name="operation")
        def operation(request: pytest.FixtureRequest) -> t.Iterator[str]:
            yield from choice.choose(request)

        @pytest.fixture(name="contract_schema")
        def contract_schema(world: t.Any, operation: str) -> t.Any:
            return constants_extracted(world.schema)

        self.operation_fixture = operation
        self.schema_fixture = contract_schema

    def parametrize(self, metafunc: pytest.Metafunc) -> None:
        if "operation" in metafunc.fixturenames:
            parametrize_operations(metafunc, "operation", self.spec)
