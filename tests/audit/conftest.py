"""A server of our own per test module, holding a fleet built as the component builds it.

The audit's orphan check covers the whole server, so these tests never share the session's server: other
areas' tests create `railzway_*` objects there at the same time.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from audit_fleet import Fleet, start_fleet


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """This module's own server with FLEET provisioned; stopped when the module ends."""
    server, built = start_fleet(tmp_path_factory.mktemp("fleet"))
    try:
        yield built
    finally:
        server.stop()
