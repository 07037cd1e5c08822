//! `/admin/users`: every user, with search, pages and soft delete. Administrators only; the
//! API enforces it, the page only hides itself from others.

use dioxus::prelude::*;
use tessera_contracts::page::Page;
use tessera_user::wire::{ListUsersQuery, Profile};

use crate::api::{ApiError, Call, query_string};
use crate::components::Title;
use crate::components::dialog::ConfirmDialog;
use crate::components::form::Pager;
use crate::components::toast;
use crate::net;
use crate::session;
use crate::time;

const PAGE_SIZE: u32 = 20;

/// `/admin/users`.
#[component]
pub fn AdminUsers() -> Element {
    let is_admin = session::user().is_some_and(|u| u.is_admin());
    if !is_admin {
        return rsx! {
            Title { text: "Not found · Tessera" }
            div { class: "card px-6 py-12 text-center",
                h1 { class: "text-lg font-medium", "Page not found" }
                p { class: "mt-1 text-sm text-zinc-600 dark:text-zinc-400", "There is nothing here for your account." }
            }
        };
    }
    rsx! { UserTable {} }
}

#[component]
fn UserTable() -> Element {
    let mut q = use_signal(String::new);
    let mut page = use_signal(|| 1u32);
    let mut list = use_signal(|| None::<Page<Profile>>);
    let mut load_error = use_signal(|| None::<ApiError>);
    let mut reload = use_signal(|| 0u64);
    let mut confirm = use_signal(|| None::<Profile>);
    let mut deleting = use_signal(|| false);
    let mut sequence = use_signal(|| 0u64);

    use_effect(move || {
        let text = q();
        let page = page();
        let _ = reload();
        let seq = *sequence.peek() + 1;
        sequence.set(seq);
        spawn(async move {
            if !text.is_empty() {
                net::sleep(200).await;
            }
            if *sequence.peek() != seq {
                return;
            }
            let query = ListUsersQuery {
                page: Some(page.to_string()),
                limit: Some(PAGE_SIZE.to_string()),
                q: Some(text.trim().to_owned()).filter(|q| !q.is_empty()),
            };
            let result = Call::get(format!("/users{}", query_string(&query)))
                .fetch::<Page<Profile>>()
                .await;
            if *sequence.peek() != seq {
                return;
            }
            match result {
                Ok(p) => {
                    list.set(Some(p));
                    load_error.set(None);
                }
                Err(err) => load_error.set(Some(err)),
            }
        });
    });

    let me = session::user().map(|u| u.user.id);
    rsx! {
        Title { text: "Users · Tessera" }
        div { class: "flex flex-wrap items-end justify-between gap-3",
            div {
                h1 { class: "text-2xl font-semibold tracking-tight", "Users" }
                p { class: "mt-0.5 text-sm text-zinc-600 dark:text-zinc-400", aria_live: "polite",
                    match list().map(|p| p.meta.total) {
                        Some(1) => "1 user".to_owned(),
                        Some(n) => format!("{n} users"),
                        None => "Loading…".to_owned(),
                    }
                }
            }
            div { role: "search",
                label { r#for: "search-users", class: "sr-only", "Search users" }
                input {
                    id: "search-users",
                    r#type: "search",
                    class: "input h-9 w-64 max-w-full",
                    placeholder: "Search by name or e-mail",
                    value: "{q}",
                    oninput: move |e| { q.set(e.value()); page.set(1); },
                }
            }
        }
        if let Some(err) = load_error() {
            p { role: "alert", class: "mt-4 rounded-lg border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-900 dark:border-red-900 dark:bg-red-950 dark:text-red-100",
                "Users could not be loaded. {err.message()}"
            }
        }
        div { class: "card mt-4 overflow-x-auto",
            match list() {
                None => rsx! {
                    div { class: "space-y-3 p-4", aria_busy: "true", aria_label: "Loading users",
                        for i in 0..5 { div { key: "{i}", class: "skeleton h-8 w-full" } }
                    }
                },
                Some(p) if p.data.is_empty() => rsx! {
                    p { class: "px-6 py-12 text-center text-sm text-zinc-600 dark:text-zinc-400", "No users match “{q}”." }
                },
                Some(p) => rsx! {
                    table { class: "w-full text-left text-sm",
                        thead { class: "border-b border-zinc-200 text-xs uppercase tracking-wide text-zinc-600 dark:border-zinc-700 dark:text-zinc-400",
                            tr {
                                th { scope: "col", class: "px-4 py-2 font-medium", "Name" }
                                th { scope: "col", class: "hidden px-4 py-2 font-medium sm:table-cell", "Email" }
                                th { scope: "col", class: "hidden px-4 py-2 font-medium sm:table-cell", "Role" }
                                th { scope: "col", class: "hidden px-4 py-2 font-medium md:table-cell", "Joined" }
                                th { scope: "col", class: "px-4 py-2", span { class: "sr-only", "Actions" } }
                            }
                        }
                        tbody { class: "divide-y divide-zinc-100 dark:divide-zinc-800",
                            for user in p.data.iter().cloned() {
                                tr { key: "{user.user_id.0}",
                                    td { class: "px-4 py-2.5",
                                        span { class: "font-medium", {user.name.clone().unwrap_or_else(|| "—".to_owned())} }
                                        // At phone width the e-mail sits under the name instead of in its own column.
                                        span { class: "block break-words text-xs text-zinc-600 sm:hidden dark:text-zinc-400", "{user.email}" }
                                    }
                                    td { class: "hidden break-words px-4 py-2.5 sm:table-cell", "{user.email}" }
                                    td { class: "hidden px-4 py-2.5 sm:table-cell", span { class: "badge badge-zinc", "{user.role.as_str()}" } }
                                    td { class: "hidden px-4 py-2.5 text-zinc-600 md:table-cell dark:text-zinc-400", "{time::date(&user.created_at)}" }
                                    td { class: "px-4 py-2.5 text-right",
                                        if Some(user.user_id) != me {
                                            button {
                                                r#type: "button",
                                                class: "btn-ghost text-xs text-red-700 hover:bg-red-50 dark:text-red-400 dark:hover:bg-red-950",
                                                aria_label: "Delete {user.email}",
                                                onclick: {
                                                    let user = user.clone();
                                                    move |_| confirm.set(Some(user.clone()))
                                                },
                                                "Delete"
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    Pager { current: p.meta.page, total_pages: p.meta.total_pages, class: "border-t border-zinc-200 px-4 py-2 dark:border-zinc-700", page }
                },
            }
        }
        if let Some(user) = confirm() {
            ConfirmDialog {
                title: "Delete user?",
                body: format!("{} will be signed out everywhere and can no longer sign in. Their data stays for the records.", user.email),
                confirm_label: "Delete user",
                busy: deleting(),
                on_cancel: move |_| confirm.set(None),
                on_confirm: move |_| {
                    if deleting() {
                        return;
                    }
                    deleting.set(true);
                    let id = user.user_id;
                    let email = user.email.clone();
                    spawn(async move {
                        match Call::delete(format!("/users/{}", id.0)).send().await {
                            Ok(()) => {
                                if let Some(p) = list.write().as_mut() {
                                    p.data.retain(|u| u.user_id != id);
                                    p.meta.total = p.meta.total.saturating_sub(1);
                                }
                                toast::info(format!("Deleted {email}."));
                                reload += 1;
                            }
                            Err(err) => toast::error(&err),
                        }
                        deleting.set(false);
                        confirm.set(None);
                    });
                },
            }
        }
    }
}
