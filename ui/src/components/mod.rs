//! Building blocks the pages share.

pub mod badge;
pub mod dialog;
pub mod form;
pub mod layout;
pub mod toast;
