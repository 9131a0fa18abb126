"""The provisioning service's own tables as golang-migrate files, applied by `python -m railzway migrate`.

They have their own version table (`railzway_service_schema_migrations`) so the Cloud DB's numbering stays
the seed's. Never edit a released file: add a new one.
"""
