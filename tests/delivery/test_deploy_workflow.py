"""The deploy workflow compares each stack with the revision it recorded, and records what it applied."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "deploy.yml"


def steps(job: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load(WORKFLOW.read_text())["jobs"][job]["steps"])


def commands(step: dict[str, Any]) -> list[list[str]]:
    return [shlex.split(line) for line in str(step.get("run", "")).splitlines() if "railzway" in line]


def railzway_args(command: list[str]) -> list[str]:
    text = " ".join(command)
    return shlex.split(text.split("-m railzway", 1)[1])


def test_the_stacks_to_deploy_are_those_changed_since_their_recorded_revision() -> None:
    step = next(s for s in steps("changed") if s.get("id") == "changed")
    selecting = [railzway_args(c) for c in commands(step) if "stacks" in c]
    assert len(selecting) == 1
    assert selecting[0][:3] == ["fleet", "stacks", "--changed-only"]
    assert "--base" not in selecting[0]
    assert "RAILZWAY_CLOUD_DB_URL" in step["env"]


def test_both_jobs_check_out_the_branch_head_with_the_history_to_read_recorded_revisions() -> None:
    checkout = next(s for s in steps("changed") if str(s.get("uses", "")).startswith("actions/checkout"))
    assert checkout["with"] == {"ref": "${{ github.ref }}", "fetch-depth": 0}
    up_checkout = next(s for s in steps("up") if str(s.get("uses", "")).startswith("actions/checkout"))
    assert up_checkout["with"]["ref"] == "${{ github.ref }}"


def test_every_stack_deployed_records_its_revision_through_the_sync() -> None:
    names = [s.get("name", "") for s in steps("up")]
    up = names.index("Up with the policy pack")
    sync = next(
        i for i, s in enumerate(steps("up")) if any(railzway_args(c)[:2] == ["sync", "--stack"] for c in commands(s))
    )
    assert sync == up + 1
