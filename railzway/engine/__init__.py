"""The Pulumi engine, through the Automation API: the program's stack configuration, shard stacks (select,
preview, up, refresh, outputs), the one apply path (up, sync, record) and each stack's applied revision."""
