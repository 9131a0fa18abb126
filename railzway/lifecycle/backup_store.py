"""The backup store: one object store named by a URL, laid out `<region>/<org_id>/<UTC timestamp>.dump`.

obstore (the Rust `object_store` crate's Python binding) is the one library behind every scheme:
`file:///path` (the embedded default), `s3://` (and S3-compatible endpoints through AWS_ENDPOINT_URL),
`gs://`, `az://`, `http(s)://`, each configured from the usual environment variables. Writes stream in
parts (a multipart upload on object stores, a temporary file renamed into place on `file://`), so a
backup never sits in memory and a failed one leaves no object behind.

Key layout and timestamps are pure functions here; the `BackupStore` methods are the I/O.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import unquote, urlparse

import obstore
from obstore.store import from_url

URL_ENV = "RAILZWAY_BACKUP_URL"
DUMP_SUFFIX = ".dump"
MANIFEST_SUFFIX = ".json"
# Millisecond UTC timestamps sort as text in time order, so the newest backup is the last key listed.
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S"
_KEY_RE = re.compile(r"^(?P<region>[a-z0-9-]+)/(?P<org>[0-9]+)/(?P<stamp>[0-9]{8}T[0-9]{6}\.[0-9]{3}Z)\.dump$")
READ_CHUNK = 1024 * 1024


class StoreError(Exception):
    """The backup store is not configured, cannot be reached, or lacks an object (never quotes a secret)."""


def stamp(moment: dt.datetime) -> str:
    """`20261130T093441.123Z`: a backup's UTC time as its file name holds it."""
    utc = moment.astimezone(dt.UTC)
    return f"{utc.strftime(TIMESTAMP_FORMAT)}.{utc.microsecond // 1000:03d}Z"


def parse_stamp(text: str) -> dt.datetime:
    return dt.datetime.strptime(text[:-1], TIMESTAMP_FORMAT + ".%f").replace(tzinfo=dt.UTC)


def dump_key(region: str, org_id: int, moment: dt.datetime) -> str:
    return f"{region}/{org_id}/{stamp(moment)}{DUMP_SUFFIX}"


def manifest_key(dump: str) -> str:
    return dump.removesuffix(DUMP_SUFFIX) + MANIFEST_SUFFIX


@dataclass(frozen=True, order=True)
class StoredBackup:
    """One backup file found in the store; orders by time."""

    taken_at: dt.datetime
    org_id: int
    region: str
    key: str


def parse_key(key: str) -> StoredBackup | None:
    """The backup a key names, or None for any other object (manifests, foreign files)."""
    m = _KEY_RE.match(key)
    if m is None:
        return None
    return StoredBackup(parse_stamp(m["stamp"]), int(m["org"]), m["region"], key)


def store_url(value: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """The `--store` value, else RAILZWAY_BACKUP_URL, else a clear error."""
    url = (value or environ.get(URL_ENV, "")).strip()
    if not url:
        raise StoreError(
            f"no backup store: pass --store URL or set {URL_ENV} (for instance file:///var/backups/railzway)"
        )
    return url.rstrip("/")


class BackupStore:
    """A backup store opened from its URL."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        if urlparse(self.url).password is not None:
            # The URL goes into manifests, the Cloud DB and messages: credentials belong in the environment.
            raise StoreError(
                "the backup store URL carries a password: give the store's credentials through its environment "
                "variables (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, GOOGLE_SERVICE_ACCOUNT, AZURE_STORAGE_...)"
            )
        try:
            # mkdir only matters to file://: the directory is created on first use, as a bucket would be there.
            options: dict[str, Any] = {"mkdir": True} if self.url.startswith("file://") else {}
            self._store = from_url(self.url, **options)
        except Exception as e:  # obstore raises its own error types, one per scheme problem
            raise StoreError(f"cannot open the backup store {self.url}: {_one_line(e)}") from None

    def url_of(self, key: str) -> str:
        return f"{self.url}/{key}"

    def key_of(self, url: str) -> str:
        """The key of a backup URL inside this store, or StoreError for a URL elsewhere."""
        prefix = self.url + "/"
        if not url.startswith(prefix):
            raise StoreError(f"{url} is not in the backup store {self.url}")
        return url[len(prefix) :]

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        """A file to stream an object into; it exists only once the block ends without an exception."""
        with obstore.open_writer(self._store, key) as out:
            yield cast(BinaryIO, out)
        self._sync(key)

    def put_bytes(self, key: str, data: bytes) -> None:
        obstore.put(self._store, key, data)
        self._sync(key)

    def _sync(self, key: str) -> None:
        """On file://, fsync the object and its directory, as pg_dump does with its own file.

        Object stores acknowledge a write once it is durable; a local file is durable only after fsync,
        and a backup that a crash can take back is not one.
        """
        if not self.url.startswith("file://"):
            return
        path = Path(unquote(urlparse(self.url).path), key)
        for target, flags in ((path, os.O_RDONLY), (path.parent, os.O_RDONLY | os.O_DIRECTORY)):
            fd = os.open(target, flags)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def read_bytes(self, key: str) -> bytes:
        try:
            return bytes(obstore.get(self._store, key).bytes())
        except FileNotFoundError:
            raise StoreError(f"{self.url_of(key)} does not exist") from None

    def chunks(self, key: str) -> Iterator[bytes]:
        """An object's bytes in chunks of about READ_CHUNK, streamed."""
        try:
            result = obstore.get(self._store, key)
        except FileNotFoundError:
            raise StoreError(f"{self.url_of(key)} does not exist") from None
        for chunk in result.stream(min_chunk_size=READ_CHUNK):
            yield bytes(chunk)

    def backups(self, prefix: str = "") -> list[StoredBackup]:
        """Every backup under `prefix` (e.g. `eu-west/1001/`), oldest first."""
        found = []
        for batch in obstore.list(self._store, prefix=prefix or None):
            for meta in batch:
                parsed = parse_key(str(meta["path"]))
                if parsed is not None:
                    found.append(parsed)
        return sorted(found)

    def delete(self, key: str) -> None:
        """Delete an object; one already gone is not an error (pruning may be repeated)."""
        try:
            obstore.delete(self._store, key)
        except FileNotFoundError:
            pass

    def exists(self, key: str) -> bool:
        try:
            obstore.head(self._store, key)
        except FileNotFoundError:
            return False
        return True


def _one_line(error: BaseException) -> str:
    # obstore appends a Rust debug dump ("Debug source: ...") to its messages: the first part says it all.
    return " ".join(str(error).split("Debug source:")[0].split())[:300]
