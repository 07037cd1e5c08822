ALTER TABLE outbox
    DROP COLUMN tracestate,
    DROP COLUMN traceparent;
