ALTER TABLE notifications DROP CONSTRAINT notifications_user_id_idempotency_key_key;
ALTER TABLE notifications
    ADD CONSTRAINT notifications_idempotency_key_key UNIQUE (idempotency_key);
