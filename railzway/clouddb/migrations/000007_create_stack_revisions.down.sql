DROP TABLE IF EXISTS stack_revisions;
