-- The W3C trace context of the request that wrote the event (app/src/trace.rs): the relay copies
-- it into the job, so the consumer's work joins the request's trace. NULL for events written
-- outside a trace and for rows written before this column existed; those jobs start a trace of
-- their own.
ALTER TABLE outbox
    ADD COLUMN traceparent text NULL,
    ADD COLUMN tracestate  text NULL;
