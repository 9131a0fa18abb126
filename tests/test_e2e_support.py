"""The e2e tests' check that no password is stored in clear reads the backend's files; here it is run on
the state the real engine stored (`../shared/engine/state-export.json`, the checkpoint without
`--show-secrets`) and the passwords it generated (`stack-output-secrets.json`), laid out as a `file://`
backend lays out its files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tests.e2e_support import stored_checkpoint, stored_files
from tests.policy.recorded import ENGINE_DIR, needs_transcripts

pytestmark = [needs_transcripts]


def recorded_passwords() -> list[str]:
    outputs = json.loads((ENGINE_DIR / "stack-output-secrets.json").read_text())
    return [tenant["db_password"] for tenant in outputs["tenants"].values()]


def backend_with(tmp_path: Path, checkpoint: bytes, name: str = "cap.json") -> Path:
    stacks = tmp_path / ".pulumi" / "stacks" / "railzway"
    stacks.mkdir(parents=True)
    (stacks / name).write_bytes(checkpoint)
    (stacks / f"{name}.bak").write_bytes(checkpoint)
    return tmp_path


def test_the_engines_stored_state_holds_every_password_only_as_ciphertext(tmp_path: Path) -> None:
    backend = backend_with(tmp_path, (ENGINE_DIR / "state-export.json").read_bytes())
    checkpoint = stored_checkpoint(backend, "cap")
    assert checkpoint.count('"ciphertext"') == 72
    passwords = recorded_passwords()
    assert len(passwords) == 8
    assert [p for p in passwords for text in stored_files(backend).values() if p in text] == []


def test_a_gzipped_checkpoint_is_read_uncompressed(tmp_path: Path) -> None:
    state = (ENGINE_DIR / "state-export.json").read_bytes()
    backend = backend_with(tmp_path, gzip.compress(state), name="cap.json.gz")
    assert stored_checkpoint(backend, "cap") == state.decode()


def test_a_password_in_clear_in_any_stored_file_is_found(tmp_path: Path) -> None:
    backend = backend_with(tmp_path, (ENGINE_DIR / "state-export.json").read_bytes())
    leaked = recorded_passwords()[0]
    (backend / ".pulumi" / "history").mkdir()
    (backend / ".pulumi" / "history" / "cap-1.history.json").write_text(json.dumps({"result": leaked}))
    assert [path.name for path, text in stored_files(backend).items() if leaked in text] == ["cap-1.history.json"]
