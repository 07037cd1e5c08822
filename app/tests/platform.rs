//! Integration tests of the platform messaging pieces (queue, outbox, inbox) against the real
//! Redis and Postgres of the machine.

#[path = "platform/support.rs"]
mod support;

#[path = "platform/inbox.rs"]
mod inbox;
#[path = "platform/outbox.rs"]
mod outbox;
#[path = "platform/queue.rs"]
mod queue;
