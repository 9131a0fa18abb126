"""The provisioning service: an HTTP API over the Pulumi Automation API, with a durable queue in the Cloud DB.

api.py       FastAPI app factory (`create_app(service)`): endpoints, auth, error bodies
intake.py    accepting a request: the tenant file and the queued request together, or neither
actions.py   what each action does to a tenant (pure; validated by the registry model)
registry.py  reading and writing single tenant files, catalogues cached
store.py     the `railzway_requests` table and its state machine
queue.py     procrastinate tasks and deferral (per-stack lock and queueing lock)
work.py      what the jobs do: batch, update, sync, settle; recovery; scheduled downgrades
runner.py    the engine seam (`railzway.engine.stacks.StackRunner`) and the Cloud DB sync after an update
core.py      the parts wired together, and the workers
server.py    `serve`: API and workers in one process, SIGTERM handling
settings.py  configuration from the environment
logs.py      JSON-lines logging with request ids, secrets scrubbed
schema.py    what `railzway migrate` adds for the service (procrastinate's schema, our tables)
"""
