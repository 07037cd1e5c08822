-- E-mails leave POST /notifications/send: the call stores the notification with its e-mail
-- pending and a dispatcher of the notification domain sends it (domains/notification/src/dispatch.rs).

ALTER TABLE notifications
    -- Pending e-mails only: when a dispatcher may next take the e-mail. A claim moves it to the
    -- end of the claim's lease (so no other dispatcher takes it meanwhile, and an abandoned send
    -- is taken again once the lease ran out); a failed attempt moves it to the next retry. NULL
    -- once the e-mail was sent, failed for good or dropped (and always for IN_APP), so
    -- "pending" is this column being set.
    ADD COLUMN email_next_attempt_at timestamptz NULL,
    -- Attempts started so far (claims), for the backoff and for operators.
    ADD COLUMN email_attempts        integer     NOT NULL DEFAULT 0,
    -- Set when the e-mail will never go out: the mail server refused it for good (an SMTP 5xx)
    -- or the recipient was deleted before it went out. The reason names the SMTP code or the
    -- cause, never the address.
    ADD COLUMN email_failed_at       timestamptz NULL,
    ADD COLUMN email_failure         text        NULL,
    ADD CONSTRAINT notifications_email_failure_check
        CHECK ((email_failed_at IS NULL) = (email_failure IS NULL));

-- The e-mails the old synchronous path left unsent are pending now: due at once, or when a send
-- lease an old process still holds runs out.
UPDATE notifications
   SET email_next_attempt_at = greatest(now(), coalesce(email_lease_until, now()))
 WHERE channel = 'EMAIL' AND email_sent_at IS NULL;

-- The lease is `email_next_attempt_at` now.
ALTER TABLE notifications DROP COLUMN email_lease_until;

-- The dispatcher's claim: due pending e-mails, oldest due first; usually a tiny part of the table.
CREATE INDEX notifications_email_pending_idx ON notifications (email_next_attempt_at)
    WHERE email_next_attempt_at IS NOT NULL;
