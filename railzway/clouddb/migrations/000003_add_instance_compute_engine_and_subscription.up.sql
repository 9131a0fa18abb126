ALTER TABLE instances ADD COLUMN IF NOT EXISTS compute_engine VARCHAR(50);
ALTER TABLE instances ADD COLUMN IF NOT EXISTS subscription_id VARCHAR(255);
CREATE INDEX IF NOT EXISTS idx_instances_subscription_id ON instances (subscription_id);
