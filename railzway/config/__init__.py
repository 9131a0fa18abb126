"""The program's stack configuration (`railzway:*` in `Pulumi.<stack>.yaml`): regions, their PostgreSQL and
Nomad endpoints, the shards a stack holds. Pure: parsed and validated, read by the program, the components,
the admin's preflight and the Automation API layer alike."""
