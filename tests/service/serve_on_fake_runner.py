"""`railzway serve` on the fake runner: the service as a process, for the tests that kill, signal or flood it.

What `railzway serve` runs (the settings from the environment, the JSON log lines, then
`railzway.service.server.serve`), with the engine given through the service's one seam, `runner=`:
`fake_runner.FakeStacks` on the registry each update reads, tuned by RAILZWAY_FAKE_RUNNER_DELAY and
RAILZWAY_FAKE_RUNNER_JOURNAL. Started by `service_helpers.ServeProcess` as

    python tests/service/serve_on_fake_runner.py --host 127.0.0.1 --port 8080

(its folder first on sys.path, the project on PYTHONPATH). A bad environment fails with a traceback: the
tests build a valid one, and `railzway serve` itself is what tests of its error messages run.
"""

from __future__ import annotations

import argparse
import asyncio

from fake_runner import factory_from_env

from railzway.service import logs
from railzway.service.server import serve
from railzway.service.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings.from_env()
    logs.configure(settings.secrets)
    asyncio.run(serve(settings, args.host, args.port, runner=factory_from_env()))


if __name__ == "__main__":
    main()
