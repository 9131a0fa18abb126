"""The service's view of the tenants registry directory: read one tenant, write one tenant, undo a write.

Loading the whole registry costs a file parse per tenant (0.1 ms each: a second at 10,000 tenants), too
much for every request. So the catalogues (tiers, regions) are kept from the last full load and reloaded
when `tiers.yaml` or `regions.yaml` changes on disk, and a request reads only its own tenant file,
validated against them with the loader's `parse_tenant`. A full load still happens where the whole fleet
matters: placing a new tenant in the least-loaded shard, and the scheduled-downgrade sweep.

Every `serve` process that shares a Cloud DB must share this directory (one host, or a shared
filesystem): the tenant files are the desired state that each worker's `pulumi up` reads.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from railzway.registry import shards
from railzway.registry.loader import (
    REGIONS_FILE,
    TIERS_FILE,
    RegistryError,
    load_registry,
    parse_tenant,
    read_tenant_file,
    tenant_path,
)
from railzway.registry.model import Registry, Tenant
from railzway.registry.tenant_files import TenantFileError, write_tenant


class RegistryUnavailable(Exception):
    """The registry cannot be read; the message names the file and the first problem."""


@dataclass(frozen=True)
class Undo:
    """How to put a tenant file back as it was before a write (None: the file did not exist)."""

    path: Path
    previous: bytes | None

    def __call__(self) -> None:
        if self.previous is None:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_name(f".{self.path.name}.undo")
        with open(tmp, "wb") as f:
            f.write(self.previous)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


class RegistryAccess:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._catalogues: Registry | None = None
        self._stamp: tuple[tuple[int, int, int], ...] | None = None

    def catalogues(self) -> Registry:
        """A registry whose tiers and regions are current (its tenants may be stale: do not read them)."""
        stamp = self._catalogue_stamp()
        with self._lock:
            if self._catalogues is None or stamp != self._stamp:
                self._catalogues = self.full()
                self._stamp = stamp
            return self._catalogues

    def full(self) -> Registry:
        """The whole registry, validated."""
        try:
            return load_registry(self.directory)
        except RegistryError as e:
            first = e.problems[0].text() if e.problems else str(self.directory)
            more = f" (and {len(e.problems) - 1} more problems)" if len(e.problems) > 1 else ""
            raise RegistryUnavailable(f"the tenants registry is invalid: {first}{more}") from None

    def tenant(self, org_id: int) -> Tenant | None:
        """The tenant's current desired state, or None when it has no file."""
        path = tenant_path(self.directory, org_id)
        try:
            # Read as the registry reads: a regular file (no link out of the directory), 64 KiB at most.
            text = read_tenant_file(self.directory, org_id)
        except RegistryError as e:
            raise RegistryUnavailable(f"the tenant file is invalid: {e.problems[0].text()}") from None
        if text is None:
            return None
        try:
            tenant = parse_tenant(text, self.catalogues(), display=str(path))
        except RegistryError as e:
            raise RegistryUnavailable(f"the tenant file is invalid: {e.problems[0].text()}") from None
        if tenant.org_id != org_id:
            raise RegistryUnavailable(f"{path}: org_id is {tenant.org_id}, not {org_id} as its file name says")
        return tenant

    def least_loaded_shard(self, region: str) -> int:
        return shards.least_loaded_shard(self.full(), region)

    def write(self, tenant: Tenant) -> Undo:
        """Write the tenant file atomically, editing only the fields that change (comments and quoting
        stay as people wrote them); the returned `Undo` restores what was there."""
        path = tenant_path(self.directory, tenant.org_id)
        try:
            previous = read_tenant_file(self.directory, tenant.org_id)
            write_tenant(self.directory, tenant)
        except RegistryError as e:
            raise RegistryUnavailable(f"the tenant file is invalid: {e.problems[0].text()}") from None
        except TenantFileError as e:
            raise RegistryUnavailable(str(e)) from None
        return Undo(path, previous)

    def _catalogue_stamp(self) -> tuple[tuple[int, int, int], ...]:
        stamps = []
        for name in (TIERS_FILE, REGIONS_FILE):
            try:
                st = os.lstat(self.directory / name)
            except FileNotFoundError:
                stamps.append((0, 0, 0))
                continue
            stamps.append((st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(stamps)
