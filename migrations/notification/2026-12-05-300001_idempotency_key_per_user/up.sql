-- Idempotency keys are the caller's, per user: the same key sent for two users names two
-- notifications. One global key would answer the second user's call with the first user's
-- notification (and store nothing for the second).
ALTER TABLE notifications DROP CONSTRAINT notifications_idempotency_key_key;
ALTER TABLE notifications
    ADD CONSTRAINT notifications_user_id_idempotency_key_key UNIQUE (user_id, idempotency_key);
