"""Every operation of every pack's spec has a handler of its own, and every handler an operation."""

from __future__ import annotations

import pytest
import yaml

from mockserver.engine.resources import specs_dir
from mockserver.engine.spec import HTTP_METHODS, load_spec
from mockserver.packs import AVAILABLE, load_pack


@pytest.mark.parametrize("name", AVAILABLE)
def test_every_operation_resolves_to_a_pack_handler(name: str) -> None:
    pack = load_pack(name)
    spec = load_spec(pack.spec_path, pack.handlers.resolve)  # raises MissingHandler for a gap
    raw = yaml.safe_load(pack.spec_path.read_text())
    declared = [op["operationId"] for item in raw["paths"].values() for m, op in item.items() if m in HTTP_METHODS]
    assert sorted(op.operation_id for op in spec.operations) == sorted(declared)
    for operation in spec.operations:
        module = operation.handler.__module__
        assert module.startswith(f"mockserver.packs.{name}."), f"{operation.operation_id} is served by {module}"


@pytest.mark.parametrize("name", AVAILABLE)
def test_no_handler_without_an_operation(name: str) -> None:
    pack = load_pack(name)
    raw = yaml.safe_load(pack.spec_path.read_text())
    declared = {op["operationId"] for item in raw["paths"].values() for m, op in item.items() if m in HTTP_METHODS}
    assert set(pack.handlers._by_id) == declared


def test_control_plane_operations_all_have_handlers() -> None:
    from mockserver.engine import control
    spec = load_spec(specs_dir() / "control.yaml", control.handlers.resolve)
    assert len(spec.operations) == len(control.handlers._by_id)


@pytest.mark.parametrize("name", AVAILABLE)
def test_pack_control_operations_all_have_handlers(name: str) -> None:
    pack = load_pack(name)
    if pack.control_spec_path is None:
        pytest.fail(f"{name} has no control spec; add specs/control/{name}.yaml")
    spec = load_spec(pack.control_spec_path, pack.control_handlers.resolve)
    assert {op.operation_id for op in spec.operations} == set(pack.control_handlers._by_id)
