"""The fleet: run preview, up or refresh on many shard stacks in parallel, and move tenants between them.

select_stacks(registry, env, globs, base=..., changed_only=...) -> Selection
run_fleet(stacks, operation, runner, parallel=K, after_up=..., observer=...) -> FleetReport
registry_at_revision(registry_dir, rev) -> Registry | None     (for --changed-only)
plan_move(...) -> MovePlan; execute_move(plan, registry_dir, engine)
"""

from railzway.fleet.move import MoveEngine, MovePlan, MoveRefused, check_move, execute_move, plan_move
from railzway.fleet.runner import (
    AfterUp,
    FleetObserver,
    FleetReport,
    StackOutcome,
    default_parallelism,
    run_fleet,
)
from railzway.fleet.selection import Selection, SelectionError, select_stacks
from railzway.registry.at_revision import RevisionError, registry_at_revision

__all__ = [
    "AfterUp",
    "FleetObserver",
    "FleetReport",
    "MoveEngine",
    "MovePlan",
    "MoveRefused",
    "RevisionError",
    "Selection",
    "SelectionError",
    "StackOutcome",
    "check_move",
    "default_parallelism",
    "execute_move",
    "plan_move",
    "registry_at_revision",
    "run_fleet",
    "select_stacks",
]
