-- Ciphertext longer than 255 characters cannot go back; ours is at most 80 for a 32-character password.
ALTER TABLE instances DROP CONSTRAINT IF EXISTS instances_db_password_key_and_fingerprint;
ALTER TABLE instances DROP COLUMN IF EXISTS db_password_fingerprint;
ALTER TABLE instances DROP COLUMN IF EXISTS db_password_key_id;
ALTER TABLE instances ALTER COLUMN db_password TYPE VARCHAR(255);
