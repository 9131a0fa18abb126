"""The tenants registry: the one desired state (`tenants/` in git).

Its model and strict loader (the only YAML reader), the names derived from it, shard placement, the
comment-keeping writer of tenant files, where the directory is, and the registry as git holds it (a clone,
a past revision, the service's cached view).
"""
