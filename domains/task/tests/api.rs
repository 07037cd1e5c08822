//! HTTP-level tests of the task domain against real Postgres and Redis (one test binary).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests"
)]

mod api {
    mod access;
    mod create;
    mod events;
    mod fuzz;
    pub mod helpers;
    mod idempotency;
    mod list;
    mod outage;
    mod update;
}
