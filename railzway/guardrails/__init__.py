"""The CrossGuard rules of the `railzway-tenant-guardrails` pack (`policy/` serves them to the engine)."""
