//! Integration tests of the platform pieces against the real Redis and Postgres of the machine:
//! the queue, the outbox, the inbox, the throttle, and the HTTP client for calls between services.

#[path = "platform/support.rs"]
mod support;

#[path = "platform/client.rs"]
mod client;
#[path = "platform/db.rs"]
mod db;
#[path = "platform/inbox.rs"]
mod inbox;
#[path = "platform/outbox.rs"]
mod outbox;
#[path = "platform/queue.rs"]
mod queue;
#[path = "platform/throttle.rs"]
mod throttle;
