"""Every policy test starts from a clean slate: no registry override in the environment and no Pulumi
configuration left behind by another test module (the validators read the stack's `railzway:` config)."""

from __future__ import annotations

from collections.abc import Iterator

import pulumi.runtime.config
import pytest

from railzway.guardrails.tier_catalogue import REGISTRY_DIR_ENV


@pytest.fixture(autouse=True)
def _isolated_configuration(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(REGISTRY_DIR_ENV, raising=False)
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    token = pulumi.runtime.config.CONFIG.set({})
    yield
    pulumi.runtime.config.CONFIG.reset(token)
