//! HTTP-level tests of the notification domain against real Postgres, Redis and the SMTP
//! catcher (one test binary).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests"
)]

mod api {
    mod dispatch;
    mod email;
    mod events;
    mod fuzz;
    pub mod helpers;
    mod list;
    mod operational;
    mod send;
    mod stream;
}
