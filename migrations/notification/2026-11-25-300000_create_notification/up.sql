-- Notifications of the notification domain and its address book of recipients.

CREATE TABLE notifications (
    id                uuid        PRIMARY KEY,
    user_id           uuid        NOT NULL,
    type              text        NOT NULL CHECK (type IN ('INFO', 'SUCCESS', 'WARNING', 'ERROR')),
    channel           text        NOT NULL CHECK (channel IN ('EMAIL', 'IN_APP')),
    subject           text        NULL,
    message           text        NOT NULL,
    read              boolean     NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- The caller's key (the worker passes its job id): a repeated send finds this row instead of
    -- storing a second one. NULLs never conflict, so calls without a key always insert.
    idempotency_key   text        NULL,
    -- EMAIL only: set once the mail server accepted the message. A row still NULL here is sent
    -- by the next call with the same key, which is what makes a retried job send exactly once.
    email_sent_at     timestamptz NULL,
    -- EMAIL only: while a call is sending, others with the same key wait (503) until it passes,
    -- so two concurrent retries never send twice. The lease outlives the SMTP timeout.
    email_lease_until timestamptz NULL,
    -- What the e-mail is rendered from, kept so a later retry renders the same mail.
    template          text        NULL,
    data              jsonb       NULL,
    CONSTRAINT notifications_idempotency_key_key UNIQUE (idempotency_key)
);

-- The owner's list, newest first (the id breaks ties so pages are stable).
CREATE INDEX notifications_user_created_idx ON notifications (user_id, created_at DESC, id DESC);

-- `unreadCount` and `?unreadOnly=true`: only unread rows, usually a small part of the table.
CREATE INDEX notifications_user_unread_idx ON notifications (user_id, created_at DESC, id DESC)
    WHERE read = false;

-- The address book: who a user id's e-mail goes to. Fed only by the `user.registered` and
-- `user.deleted` events; this domain never reads another domain's database.
CREATE TABLE recipients (
    user_id    uuid        PRIMARY KEY,
    email      text        NOT NULL,
    name       text        NULL,
    -- Set by `user.deleted`: no more e-mail to this user. A deletion that arrives before the
    -- registration leaves a tombstone without an address (the empty string), which the late
    -- registration fills in without reviving the user.
    deleted_at timestamptz NULL,
    CONSTRAINT recipients_email_check CHECK (email <> '' OR deleted_at IS NOT NULL)
);
