// @generated automatically by Diesel CLI.

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Uuid,
        key -> Text,
        request_hash -> Bytea,
        task_id -> Nullable<Uuid>,
        response -> Nullable<Jsonb>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    tasks (id) {
        id -> Uuid,
        user_id -> Uuid,
        title -> Text,
        description -> Nullable<Text>,
        status -> Text,
        priority -> Text,
        priority_rank -> Int2,
        due_date -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    user_task_counters (user_id) {
        user_id -> Uuid,
        created_count -> Int8,
    }
}

diesel::allow_tables_to_appear_in_same_query!(idempotency_keys, tasks, user_task_counters,);
