//! Building blocks the pages share.

pub mod badge;
pub mod dialog;
pub mod form;
pub mod layout;
pub mod toast;

use dioxus::prelude::*;

/// Sets the document title. (Dioxus's own `document::Title` evaluates a string as JavaScript,
/// which the app's Content-Security-Policy forbids; this sets `document.title` directly.)
#[component]
pub fn Title(text: String) -> Element {
    use_effect(use_reactive!(|text| {
        if let Some(document) = web_sys::window().and_then(|w| w.document()) {
            document.set_title(&text);
        }
    }));
    rsx! {}
}
