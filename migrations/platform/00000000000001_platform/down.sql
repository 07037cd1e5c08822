DROP TABLE processed_jobs;
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION tessera_outbox_notify();
DROP INDEX outbox_sent_at_idx;
DROP INDEX outbox_unsent_idx;
DROP TABLE outbox;
