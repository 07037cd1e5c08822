//! Every test of `shell`, in one binary (one build and link instead of six):
//!
//! - `architecture`: DESIGN.md's dependency rules over `cargo metadata`;
//! - `cli`: the process interface of the real binary;
//! - `compose`: the deployment files against DESIGN.md and the declared configuration;
//! - `migrations`: each domain's migrations apply, revert and apply again;
//! - `faults`: jobs through outages of SMTP, the notification service and workers;
//! - `chaos`: the fault suite under load (`just chaos` runs it at full scale);
//! - the end-to-end suite (the rest): the seed's flows and the gateway's rules over HTTP, run
//!   against both deployments (API.md: "a client cannot tell them apart"). Each scenario is
//!   written once and runs as `<group>::single::<name>` (one process) and
//!   `<group>::split::<name>` (six processes of the real binary); `split_only` holds what only
//!   exists with a network between gateway and services (upstream failures, the proxy's
//!   streaming, logs of separate processes).
//!
//! The SMTP catcher is shared by every test, so each test uses its own addresses.
//!
//! `external::<name>` runs a scenario against a deployment the suite did not start
//! (`deploy::Kind::External`, at `TESSERA_E2E_URL`). The nextest profiles leave them out by
//! their default filter; `just compose-test` selects them for both compose files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "tests"
)]

mod architecture;
mod cli;
mod compose;
mod faults;
mod migrations;

/// The items that need every module compiled in (the end-to-end suite).
macro_rules! full_platform {
    ($($item:item)*) => {
        $(
            #[cfg(all(
                feature = "gateway",
                feature = "auth",
                feature = "user",
                feature = "task",
                feature = "notification",
                feature = "worker"
            ))]
            $item
        )*
    };
}

/// Declares each scenario `name(kind)` once per deployment.
macro_rules! both {
    ($module:ident: $($name:ident),* $(,)?) => {
        mod single {
            $(
                #[tokio::test]
                async fn $name() {
                    crate::$module::$name(crate::deploy::Kind::Single).await;
                }
            )*
        }
        mod split {
            $(
                #[tokio::test]
                async fn $name() {
                    crate::$module::$name(crate::deploy::Kind::Split).await;
                }
            )*
        }
    };
}

/// Declares each scenario `name(Kind::External)`; the nextest profiles' default filter leaves
/// `external::*` out, and `just compose-test` asks for it.
macro_rules! external {
    ($($module:ident: $($name:ident),* $(,)?;)*) => {
        mod external {
            $($(
                #[tokio::test]
                async fn $name() {
                    crate::$module::$name(crate::deploy::Kind::External).await;
                }
            )*)*
        }
    };
}

full_platform! {
mod chaos;
mod contract;
mod deploy;
mod deploy_assets;
mod edge;
mod flows;
mod session;
mod split_only;
mod traces;

// The scenarios that need no settings of their own (rate limits, CORS, throttles are the
// deployment's) and nothing behind the gateway but what an operator has: its URL, the mail
// catcher, Redis (read only), the auth database (the admin CLI) and the secrets.
external!(
    flows:
        first_task_brings_an_in_app_notification_and_the_only_welcome_email,
        completing_a_task_notifies_in_app_and_sends_the_congratulations_email,
        forgot_password_mails_a_reset_link_that_works,
        a_registration_becomes_a_profile_with_its_name,
        an_admin_promoted_by_the_cli_lists_and_deletes_users,
        the_stream_pushes_new_notifications;
    contract:
        length_limits_count_the_text_as_sent;
    edge:
        protected_routes_need_an_access_token,
        the_internal_send_route_is_not_routed,
        request_ids_are_kept_or_generated,
        docs_and_the_openapi_document_are_served;
);

mod flow {
    both!(flows:
        first_task_brings_an_in_app_notification_and_the_only_welcome_email,
        completing_a_task_notifies_in_app_and_sends_the_congratulations_email,
        forgot_password_mails_a_reset_link_that_works,
        a_registration_becomes_a_profile_with_its_name,
        an_admin_promoted_by_the_cli_lists_and_deletes_users,
        the_stream_pushes_new_notifications,
    );
}

mod web_session {
    both!(session:
        the_session_cookie_travels_through_the_gateway,
    );
}

mod input {
    both!(contract:
        length_limits_count_the_text_as_sent,
    );
}

mod gateway {
    both!(edge:
        protected_routes_need_an_access_token,
        the_internal_send_route_is_not_routed,
        rate_limits_answer_429_with_retry_after,
        cors_allows_configured_origins_only,
        request_ids_are_kept_or_generated,
        docs_and_the_openapi_document_are_served,
        client_sent_forwarding_headers_do_not_change_the_client_address,
        reset_password_is_under_the_strict_auth_limit,
        every_spelling_of_a_path_meets_the_same_edge_rules,
        a_slow_or_abandoned_body_is_answered_at_the_edge_and_blames_no_upstream,
        clients_behind_the_gateway_are_told_apart_by_the_login_throttle,
        an_ipv6_client_is_limited_by_its_64,
        every_answer_varies_by_origin,
    );
}
}
