//! A confirmation dialog for destructive actions (`role="alertdialog"`).

use dioxus::prelude::*;

/// Asks before something that cannot be undone. The confirm button gets focus; Esc or Cancel
/// closes it.
#[component]
pub fn ConfirmDialog(
    title: String,
    body: String,
    confirm_label: String,
    busy: bool,
    on_confirm: EventHandler<()>,
    on_cancel: EventHandler<()>,
) -> Element {
    use_effect(|| crate::net::focus("confirm-dialog-confirm"));
    rsx! {
        div { class: "fixed inset-0 z-50 grid place-items-center bg-zinc-950/40 p-4",
            onkeydown: move |e| {
                if e.key() == Key::Escape {
                    on_cancel.call(());
                }
            },
            div {
                role: "alertdialog",
                aria_modal: "true",
                aria_labelledby: "confirm-dialog-title",
                aria_describedby: "confirm-dialog-body",
                class: "card w-full max-w-sm p-6 shadow-xl",
                h2 { id: "confirm-dialog-title", class: "text-lg font-semibold", "{title}" }
                p { id: "confirm-dialog-body", class: "mt-2 text-sm text-zinc-600 dark:text-zinc-300", "{body}" }
                div { class: "mt-6 flex justify-end gap-2",
                    button { r#type: "button", class: "btn-secondary", disabled: busy, onclick: move |_| on_cancel.call(()), "Cancel" }
                    button { id: "confirm-dialog-confirm", r#type: "button", class: "btn-danger", disabled: busy, aria_busy: if busy { "true" },
                        onclick: move |_| on_confirm.call(()),
                        if busy { "Working…" } else { "{confirm_label}" }
                    }
                }
            }
        }
    }
}
