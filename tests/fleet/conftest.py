"""Fleet fixtures: a factory of small registries written as real files in the test's directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fleet_fakes import write_registry


@pytest.fixture
def make_registry(tmp_path: Path) -> Callable[..., Path]:
    return lambda tenants, regions=None, **kw: write_registry(tmp_path, tenants, regions, **kw)
