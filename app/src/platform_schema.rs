// @generated automatically by Diesel CLI.

diesel::table! {
    outbox (id) {
        id -> Uuid,
        topic -> Text,
        payload -> Jsonb,
        request_id -> Nullable<Text>,
        created_at -> Timestamptz,
        attempts -> Int4,
        locked_until -> Nullable<Timestamptz>,
        sent_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        traceparent -> Nullable<Text>,
        tracestate -> Nullable<Text>,
    }
}

diesel::table! {
    processed_jobs (consumer, job_id) {
        consumer -> Text,
        job_id -> Uuid,
        processed_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(outbox, processed_jobs,);
