//! One module per route.

pub mod account;
pub mod admin;
pub mod landing;
pub mod notifications;
pub mod profile;
pub mod task;
pub mod tasks;
