// @generated automatically by Diesel CLI.

diesel::table! {
    notifications (id) {
        id -> Uuid,
        user_id -> Uuid,
        #[sql_name = "type"]
        type_ -> Text,
        channel -> Text,
        subject -> Nullable<Text>,
        message -> Text,
        read -> Bool,
        created_at -> Timestamptz,
        idempotency_key -> Nullable<Text>,
        email_sent_at -> Nullable<Timestamptz>,
        template -> Nullable<Text>,
        data -> Nullable<Jsonb>,
        email_next_attempt_at -> Nullable<Timestamptz>,
        email_attempts -> Int4,
        email_failed_at -> Nullable<Timestamptz>,
        email_failure -> Nullable<Text>,
    }
}

diesel::table! {
    recipients (user_id) {
        user_id -> Uuid,
        email -> Text,
        name -> Nullable<Text>,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(notifications, recipients,);
