-- AES-256-GCM ciphertext (base64 of nonce || ciphertext || tag) replaces the seed's plain text. A row
-- whose db_password_key_id is NULL still holds a seed-era plain-text password: `railzway rekey` encrypts it.
ALTER TABLE instances ALTER COLUMN db_password TYPE TEXT;
ALTER TABLE instances ADD COLUMN db_password_key_id VARCHAR(32);
-- Keyed BLAKE2b of (org id, password) under a key derived from the encryption key: the sync tells a
-- rotated password from a fresh nonce without keeping the password in the clear.
ALTER TABLE instances ADD COLUMN db_password_fingerprint VARCHAR(64);
ALTER TABLE instances ADD CONSTRAINT instances_db_password_key_and_fingerprint
    CHECK ((db_password_key_id IS NULL) = (db_password_fingerprint IS NULL));
COMMENT ON COLUMN instances.db_password IS
    'AES-256-GCM, base64(nonce || ciphertext || tag), org id as associated data; plain text while db_password_key_id is NULL';
COMMENT ON COLUMN instances.db_password_key_id IS 'Fingerprint of the RAILZWAY_CREDENTIALS_KEYS key that encrypted db_password';
COMMENT ON COLUMN instances.db_password_fingerprint IS 'Keyed BLAKE2b of org id and password under a key derived from db_password_key_id';
