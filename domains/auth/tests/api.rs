//! HTTP-level tests of the auth domain against real Postgres and Redis (one test binary).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests"
)]

mod api {
    mod fuzz;
    pub mod helpers;
    mod login;
    mod operational;
    mod password_reset;
    mod register;
    mod session;
    mod tokens;
}
