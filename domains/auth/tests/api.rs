//! HTTP-level tests of the auth domain against real Postgres and Redis (one test binary).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests"
)]

mod api {
    pub mod helpers;
    mod fuzz;
    mod login;
    mod operational;
    mod password_reset;
    mod register;
    mod tokens;
}
