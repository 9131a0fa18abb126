"""Which stack holds which tenant: shard assignment and the stack scheme, as pure functions.

A tenant's shard is recorded in its registry file when the tenant is created and never changes by itself:
the shard decides the stack, and moving a tenant between stacks moves its Pulumi state (`railzway move`).
Everything here works on registry values only, so the CLI, the fleet runner and the provisioning service
make the same decisions and the tests need neither Pulumi nor git.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from railzway.registry import naming
from railzway.registry.model import Registry, Tenant

SHARDS_CONFIG_KEY = "railzway:shards"


@dataclass(frozen=True, order=True)
class ShardStack:
    """The stack of one environment that holds one shard of one region (`prod-eu-west-03`)."""

    environment: str
    region: str
    shard: int

    @property
    def name(self) -> str:
        return naming.stack_name(self.environment, self.region, self.shard)

    @property
    def key(self) -> tuple[str, int]:
        """The (region, shard) pair, as `Registry.in_shards` and `Registry.shard_sizes` key it."""
        return self.region, self.shard

    def shards_config(self) -> list[str]:
        """The stack's `railzway:shards` configuration value."""
        return [shard_key(self.region, self.shard)]


def shard_key(region: str, shard: int) -> str:
    """One entry of `railzway:shards`: `"<region>/<shard>"`, e.g. `"eu-west/3"`."""
    return f"{region}/{shard}"


def parse_shard_key(text: str) -> tuple[str, int]:
    """(region, shard) of a `railzway:shards` entry; ValueError naming the entry when malformed."""
    region, sep, number = text.rpartition("/")
    if not sep or not region or not number.isdigit() or number != str(int(number)):
        raise ValueError(f'{text!r} is not a shard: write "<region>/<shard number>", for instance "eu-west/3"')
    return region, int(number)


def owns_region_singletons(region: str, shard_set: Collection[tuple[str, int]] | None) -> bool:
    """Whether the stack holding `shard_set` (None: every tenant) declares `region`'s one-per-region objects.

    A region's server hardening and its backup job exist once per region, but its shard stacks run in
    parallel: two stacks declaring the same object would fight over it (and concurrent GRANTs on one
    database fail with "tuple concurrently updated"). The stack of the region's shard 0 owns them.
    """
    return shard_set is None or (region, 0) in shard_set


def stack_of(tenant: Tenant, environment: str) -> ShardStack:
    """The stack that holds a tenant in an environment."""
    return ShardStack(environment, tenant.region, tenant.shard)


def stacks_of(registry: Registry, environment: str) -> list[ShardStack]:
    """Every stack of the scheme for an environment: one per shard of every region, empty shards included."""
    return sorted(
        ShardStack(environment, name, shard)
        for name, region in registry.regions.regions.items()
        for shard in range(region.shards)
    )


def tenants_of(registry: Registry, stack: ShardStack) -> list[Tenant]:
    """The tenants a shard stack declares, by org id."""
    return registry.in_shards({stack.key})


def has_recorded_shard(tenant: Tenant) -> bool:
    """Whether the tenant's file names its shard (a file without one is read as shard 0 until assigned)."""
    return "shard" in tenant.model_fields_set


def unplaced(registry: Registry) -> list[Tenant]:
    """Tenants whose files record no shard yet, by org id: `railzway assign-shard` places them."""
    return sorted((t for t in registry.tenants.values() if not has_recorded_shard(t)), key=lambda t: t.org_id)


def placed_sizes(registry: Registry) -> dict[tuple[str, int], int]:
    """Tenants per (region, shard), counting only tenants whose shard is recorded; empty shards included.

    Unplaced tenants are left out because they are about to be assigned: counting them in shard 0 would
    push every new tenant away from shard 0.
    """
    sizes = {(name, n): 0 for name, region in registry.regions.regions.items() for n in range(region.shards)}
    for tenant in registry.tenants.values():
        if has_recorded_shard(tenant):
            sizes[(tenant.region, tenant.shard)] = sizes.get((tenant.region, tenant.shard), 0) + 1
    return sizes


def least_loaded_shard(registry: Registry, region: str, sizes: Mapping[tuple[str, int], int] | None = None) -> int:
    """The shard a new tenant of `region` goes to: the one holding fewest tenants, the lowest number on ties.

    `sizes` defaults to `placed_sizes(registry)`; pass your own running count when placing several tenants.
    """
    catalogue = registry.regions.regions.get(region)
    if catalogue is None:
        known = ", ".join(sorted(registry.regions.regions))
        raise ValueError(f"unknown region {region!r} (known: {known})")
    counts = placed_sizes(registry) if sizes is None else sizes
    return min(range(catalogue.shards), key=lambda shard: (counts.get((region, shard), 0), shard))


def assign_shards(registry: Registry, tenants: Iterable[Tenant]) -> list[Tenant]:
    """The given tenants with a least-loaded shard each, in org-id order, each placement counting for the next.

    Returns validated copies (the registry's catalogues are the validation context); write them with
    `railzway.registry.tenant_files.write_tenant`.
    """
    sizes = placed_sizes(registry)
    assigned: list[Tenant] = []
    for tenant in sorted(tenants, key=lambda t: t.org_id):
        shard = least_loaded_shard(registry, tenant.region, sizes)
        sizes[(tenant.region, shard)] = sizes.get((tenant.region, shard), 0) + 1
        assigned.append(with_shard(registry, tenant, shard))
    return assigned


def with_shard(registry: Registry, tenant: Tenant, shard: int) -> Tenant:
    """A copy of `tenant` recorded in `shard`, validated (ValueError when the region has no such shard)."""
    data = tenant.model_dump(exclude_unset=False)
    data["shard"] = shard
    return Tenant.model_validate(data, context=registry.context())


def changed_stacks(old: Registry | None, new: Registry, environment: str) -> list[ShardStack]:
    """The stacks whose declared tenants differ between two registries (`fleet --changed-only`).

    A stack changes when a tenant enters or leaves it, when a tenant's file changes, or when a tier that
    one of its tenants uses (now or through a scheduled downgrade) changes. `old` None (no registry at the
    base revision) means every stack holding a tenant changed. Stacks of both registries are considered,
    so a stack that lost its last tenant is included.
    """
    before = _declared(old) if old is not None else {}
    after = _declared(new)
    changed: set[ShardStack] = set()
    for org_id in before.keys() | after.keys():
        was, now = before.get(org_id), after.get(org_id)
        if was == now:
            continue
        for state in (was, now):
            if state is not None:
                region, shard = state[0]
                changed.add(ShardStack(environment, region, shard))
    return sorted(changed)


def _declared(registry: Registry) -> dict[int, tuple[tuple[str, int], dict[str, Any]]]:
    """Per tenant: its (region, shard) and everything the program derives it from."""
    declared: dict[int, tuple[tuple[str, int], dict[str, Any]]] = {}
    for org_id, tenant in registry.tenants.items():
        tiers = {tenant.tier} | ({tenant.downgrade.tier} if tenant.downgrade else set())
        inputs = {
            "tenant": tenant.model_dump(mode="json"),
            "tiers": {name: registry.tiers.tiers[name].model_dump(mode="json") for name in sorted(tiers)},
        }
        declared[org_id] = ((tenant.region, tenant.shard), inputs)
    return declared
