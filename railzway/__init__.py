"""Railzway Cloud tenant provisioning: the operator package behind the Pulumi program.

Layers (nothing imports upward): `naming` and `model` are pure; `loader` reads the registry; the
component, policy pack, Cloud DB, audit, service and fleet build on them; `railzway.cli` is the thin shell.
"""

__version__ = "0.16.0"
"""Recorded in every backup manifest (`tool_version`)."""
