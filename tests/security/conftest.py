"""Admin roles on the session's server, one set up the way README.md's region set-up says and one not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tenant_trap import admin_role

from devkit.localpg import LocalPostgres


@pytest.fixture
def unpinned_admin(postgres: LocalPostgres) -> Iterator[str]:
    """A superuser without the region set-up: a tenant database can steer its sessions."""
    with admin_role(postgres, pinned=False) as name:
        yield name


@pytest.fixture
def pinned_admin(postgres: LocalPostgres) -> Iterator[str]:
    """A superuser with the region set-up (role-level search_path pinned)."""
    with admin_role(postgres, pinned=True) as name:
        yield name
