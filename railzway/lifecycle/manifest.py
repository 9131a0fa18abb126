"""The small JSON document written beside each backup: what it holds and how to check it is whole."""

from __future__ import annotations

import datetime as dt
import json

from pydantic import BaseModel, ConfigDict, Field

from railzway import __version__

MANIFEST_FORMAT = 1
TOOL_VERSION = f"railzway {__version__}"


class Manifest(BaseModel):
    """One backup: the tenant, the server it came from, the dump's size and SHA-256, when, and by what."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int = MANIFEST_FORMAT
    org_id: int
    region: str
    database: str
    dump: str = Field(description="the dump's key in the store, `<region>/<org_id>/<timestamp>.dump`")
    server_version: str
    pg_dump_version: str
    size_bytes: int
    sha256: str
    started_at: dt.datetime
    finished_at: dt.datetime
    tool_version: str = TOOL_VERSION
    final: bool = Field(default=False, description="the backup a purge took before dropping the data")

    def to_json(self) -> bytes:
        return (json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        return cls.model_validate_json(data)
