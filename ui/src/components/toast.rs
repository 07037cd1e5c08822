//! Messages that are not about one field: errors with their request id, confirmations, undo.

use dioxus::prelude::*;

use crate::api::ApiError;

/// What a toast's action button does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastAction {
    /// Cancel the pending delete of this task (see [`crate::pages::tasks`]).
    UndoDelete(u64),
}

/// One message.
#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    /// Unique per page load.
    pub id: u64,
    /// An error (`role="alert"`) or a status message (`role="status"`).
    pub error: bool,
    /// What happened.
    pub text: String,
    /// The request id to quote, for errors.
    pub request_id: Option<String>,
    /// An action offered with the message (Undo).
    pub action: Option<(String, ToastAction)>,
}

/// The messages on screen.
pub static TOASTS: GlobalSignal<Vec<Toast>> = Signal::global(Vec::new);

thread_local! {
    static NEXT: std::cell::Cell<u64> = const { std::cell::Cell::new(1) };
}

fn next_id() -> u64 {
    NEXT.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    })
}

fn push(toast: Toast) -> u64 {
    let id = toast.id;
    let mut toasts = TOASTS.write();
    // A repeated error replaces the older copy instead of stacking up.
    toasts.retain(|t| t.text != toast.text);
    toasts.push(toast);
    let excess = toasts.len().saturating_sub(4);
    toasts.drain(..excess);
    id
}

/// Shows an API error (unless it is the end of the session, which the login page explains).
pub fn error(err: &ApiError) {
    if matches!(err, ApiError::SessionEnded) {
        return;
    }
    push(Toast {
        id: next_id(),
        error: true,
        text: err.message(),
        request_id: err.request_id(),
        action: None,
    });
}

/// Shows a status message that goes away on its own.
pub fn info(text: impl Into<String>) -> u64 {
    let id = push(Toast {
        id: next_id(),
        error: false,
        text: text.into(),
        request_id: None,
        action: None,
    });
    dismiss_later(id, 5_000);
    id
}

/// Shows a status message with an action button, for `ms` milliseconds. The action is made
/// from the toast's id, so an action can name the toast it came from (Undo finds its delete).
pub fn with_action(
    text: impl Into<String>,
    label: &str,
    action: impl FnOnce(u64) -> ToastAction,
    ms: u32,
) -> u64 {
    let id = next_id();
    push(Toast {
        id,
        error: false,
        text: text.into(),
        request_id: None,
        action: Some((label.to_owned(), action(id))),
    });
    dismiss_later(id, ms);
    id
}

/// Removes a message.
pub fn dismiss(id: u64) {
    TOASTS.write().retain(|t| t.id != id);
}

fn dismiss_later(id: u64, ms: u32) {
    dioxus::core::spawn_forever(async move {
        crate::net::sleep(ms).await;
        dismiss(id);
    });
}

/// Where the messages appear: bottom right on desktop, bottom on phones.
#[component]
pub fn ToastHost(on_action: EventHandler<ToastAction>) -> Element {
    rsx! {
        div { class: "pointer-events-none fixed inset-x-0 bottom-0 z-50 flex flex-col items-center gap-2 p-4 sm:items-end",
            for toast in TOASTS.read().iter().cloned() {
                div {
                    key: "{toast.id}",
                    role: if toast.error { "alert" } else { "status" },
                    class: "pointer-events-auto flex w-full max-w-sm items-start gap-3 rounded-lg border px-4 py-3 text-sm shadow-lg",
                    class: if toast.error { "border-red-200 bg-red-50 text-red-900 dark:border-red-900 dark:bg-red-950 dark:text-red-100" } else { "border-zinc-200 bg-white text-zinc-900 dark:border-zinc-700 dark:bg-zinc-800 dark:text-zinc-100" },
                    div { class: "flex-1",
                        p { "{toast.text}" }
                        if let Some(rid) = &toast.request_id {
                            p { class: "mt-1 font-mono text-xs opacity-75", "Request ID: {rid}" }
                        }
                    }
                    if let Some((label, action)) = toast.action.clone() {
                        button {
                            r#type: "button",
                            class: "btn-link font-semibold",
                            onclick: move |_| {
                                dismiss(toast.id);
                                on_action.call(action);
                            },
                            "{label}"
                        }
                    }
                    button {
                        r#type: "button",
                        class: "btn-ghost -m-1 px-2 py-1",
                        aria_label: "Dismiss",
                        onclick: move |_| dismiss(toast.id),
                        "Dismiss"
                    }
                }
            }
        }
    }
}
