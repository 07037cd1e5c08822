//! The task domain (being written).
