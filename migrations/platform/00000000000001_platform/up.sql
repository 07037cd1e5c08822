-- Platform tables carried by every domain database: the transactional outbox (events waiting
-- for the relay) and the inbox of processed jobs (what makes consumers idempotent).

CREATE TABLE outbox (
    id           uuid        PRIMARY KEY,
    topic        text        NOT NULL,
    payload      jsonb       NOT NULL,
    request_id   text        NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- How many times a relay claimed the row; more than one means an earlier publish failed.
    attempts     int         NOT NULL DEFAULT 0,
    -- A relay's lease: other relays skip the row until it passes.
    locked_until timestamptz NULL,
    sent_at      timestamptz NULL,
    last_error   text        NULL
);

-- The relay only ever scans unsent rows, oldest first; sent rows are kept for a while for
-- auditing and would otherwise bloat the scan.
CREATE INDEX outbox_unsent_idx ON outbox (created_at) WHERE sent_at IS NULL;

-- Retention clean-up deletes old sent rows.
CREATE INDEX outbox_sent_at_idx ON outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Wakes the relay (LISTEN tessera_outbox) once per inserting statement. NOTIFY is delivered at
-- commit, so a rolled-back transaction wakes nobody.
CREATE FUNCTION tessera_outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tessera_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify
    AFTER INSERT ON outbox
    FOR EACH STATEMENT
    EXECUTE FUNCTION tessera_outbox_notify();

CREATE TABLE processed_jobs (
    consumer     text        NOT NULL,
    job_id       uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, job_id)
);
