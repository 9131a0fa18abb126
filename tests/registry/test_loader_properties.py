"""Property tests: whatever bytes land in a tenant file, the loader answers with problems, never a crash."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from railzway.registry.loader import check_registry
from tests.conftest import SHIPPED_REGISTRY

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=40), st.dates()
)
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
_tenant_like = st.fixed_dictionaries(
    {},
    optional={
        "org_id": st.one_of(st.integers(), st.text(max_size=5)),
        "tier": st.sampled_from(["starter", "growth", "gold", ""]),
        "version": st.one_of(st.text(max_size=20), st.floats(), st.just("1.8.2")),
        "status": st.sampled_from(["running", "stopped", "terminated", "paused"]),
        "region": st.sampled_from(["eu-west", "us-east", "mars"]),
        "shard": st.integers(min_value=-2, max_value=5),
        "downgrade": _values,
        "extra": _values,
    },
)


def _check_one_file(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        registry = Path(tmp) / "tenants"
        shutil.copytree(SHIPPED_REGISTRY, registry)
        (registry / "orgs" / "3001.yaml").write_bytes(content)
        result, problems = check_registry(registry)
        # Either the file was a valid tenant, or at least one error names it.
        if result is None:
            assert any(p.file.endswith("3001.yaml") and p.severity == "error" for p in problems)
        else:
            assert 3001 in result.tenants


_settings = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash_the_loader(content: bytes) -> None:
    _check_one_file(content)


@_settings
@given(_values)
def test_random_yaml_documents_never_crash_the_loader(value: object) -> None:
    _check_one_file(yaml.safe_dump(value).encode())


@_settings
@given(_tenant_like)
def test_random_tenant_shaped_documents_never_crash_the_loader(value: dict[str, object]) -> None:
    _check_one_file(yaml.safe_dump(value, sort_keys=False).encode())


@_settings
@given(st.text(alphabet=st.sampled_from(list("abc:-[]{}!&*|>'\"#%@` \n\t0123456789.")), max_size=200))
def test_random_yaml_syntax_never_crashes_the_loader(text: str) -> None:
    _check_one_file(text.encode())
