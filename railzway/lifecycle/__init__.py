"""A tenant's data life-cycle: backups to an object store, verified restores, and an explicit purge.

`admin` pins every admin connection into a tenant database; `store` is the backup store (obstore);
`manifest` and `retention` are pure; `pgtools` runs pg_dump and pg_restore; `backup`, `restore`, `verify`
and `purge` are the operations; `records` writes them to the Cloud DB; `schedule` is the periodic job
(pure, read by the component and the policy pack).
"""
