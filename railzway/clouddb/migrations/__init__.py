"""The Cloud DB's schema as golang-migrate files (`NNNNNN_name.up.sql` / `.down.sql`), read as package data.

000001-000004 are the seed control plane's `instances` table, so a Cloud DB it already migrated to
version 4 continues from there; 000005 onwards are ours. Never edit a released file: add a new one.
"""
