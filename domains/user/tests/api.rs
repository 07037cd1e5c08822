//! HTTP-level tests of the user domain against real Postgres and Redis (one test binary).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests"
)]

mod api {
    mod delete;
    mod events;
    mod fuzz;
    pub mod helpers;
    mod list;
    mod operational;
    mod read;
    mod update;
}
