//! `/`: what Tessera is, with the ways in. Signed-in users go straight to their tasks.

use dioxus::prelude::*;

use crate::Route;
use crate::components::Title;
use crate::components::layout::Logo;
use crate::session::{AUTH, Auth};

/// `/`.
#[component]
pub fn Landing() -> Element {
    use_effect(move || {
        if matches!(&*AUTH.read(), Auth::SignedIn(_)) {
            navigator().replace(Route::Tasks {});
        }
    });
    rsx! {
        Title { text: "Tessera · tasks, notifications, done" }
        div { class: "flex min-h-screen flex-col",
            header { class: "mx-auto flex w-full max-w-[1100px] items-center justify-between px-4 py-5 sm:px-6",
                span { class: "flex items-center gap-2 text-lg font-semibold tracking-tight", Logo {} "Tessera" }
                nav { aria_label: "Account", class: "flex items-center gap-2",
                    Link { to: Route::Login {}, class: "btn-ghost", "Sign in" }
                    Link { to: Route::Register {}, class: "btn-primary", "Create account" }
                }
            }
            main { id: "main-content", class: "mx-auto flex w-full max-w-[1100px] flex-1 flex-col justify-center px-4 py-12 sm:px-6",
                h1 { class: "max-w-2xl text-4xl font-semibold tracking-tight text-zinc-900 sm:text-5xl dark:text-zinc-50",
                    span { class: "sr-only", "Tessera: " }
                    "Your tasks, in order. Nothing slips."
                }
                p { class: "mt-4 max-w-xl text-lg text-zinc-600 dark:text-zinc-300",
                    "Tessera keeps your work in one calm list: add a task with a keystroke, filter by status and priority, and get a note the moment something changes."
                }
                div { class: "mt-8 flex flex-wrap gap-3",
                    Link { to: Route::Register {}, class: "btn-primary px-5 py-2.5 text-base", "Create account" }
                    Link { to: Route::Login {}, class: "btn-secondary px-5 py-2.5 text-base", "Sign in" }
                }
                ul { class: "mt-14 grid gap-4 sm:grid-cols-3",
                    Feature { title: "Quick add", text: "Press n, type, Enter. Priority and due date when you want them." }
                    Feature { title: "Live notifications", text: "Created and completed tasks show up in the bell within a second." }
                    Feature { title: "Filters that keep up", text: "Status, priority, search and sort, with pages for long lists." }
                }
            }
            footer { class: "mx-auto w-full max-w-[1100px] px-4 py-6 text-sm text-zinc-600 sm:px-6 dark:text-zinc-400",
                "Tessera: an open reference for service-shaped Rust platforms."
            }
        }
    }
}

#[component]
fn Feature(title: String, text: String) -> Element {
    rsx! {
        li { class: "card p-5",
            h2 { class: "font-medium", "{title}" }
            p { class: "mt-1 text-sm text-zinc-600 dark:text-zinc-300", "{text}" }
        }
    }
}
