DROP INDEX notifications_email_pending_idx;
ALTER TABLE notifications ADD COLUMN email_lease_until timestamptz NULL;
ALTER TABLE notifications
    DROP CONSTRAINT notifications_email_failure_check,
    DROP COLUMN email_failure,
    DROP COLUMN email_failed_at,
    DROP COLUMN email_attempts,
    DROP COLUMN email_next_attempt_at;
