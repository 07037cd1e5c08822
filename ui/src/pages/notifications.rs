//! `/notifications`: the notification centre. Mark read, mark all read, delete; the list follows
//! the live stream (new items appear at the top without a reload).

use dioxus::prelude::*;
use tessera_notification::wire::{
    ListNotificationsQuery, Notification, NotificationPage, NotificationType,
};

use crate::api::{ApiError, Call, query_string};
use crate::components::Title;
use crate::components::form::Pager;
use crate::components::toast;
use crate::live::{self, INBOX};
use crate::time;

const PAGE_SIZE: u32 = 20;

fn tone(kind: NotificationType) -> (&'static str, &'static str) {
    match kind {
        NotificationType::Info => ("badge-blue", "Info"),
        NotificationType::Success => ("badge-green", "Success"),
        NotificationType::Warning => ("badge-amber", "Warning"),
        NotificationType::Error => ("badge-red", "Error"),
    }
}

/// `/notifications`.
#[component]
pub fn Notifications() -> Element {
    let mut page = use_signal(|| 1u32);
    let mut unread_only = use_signal(|| false);
    let mut list = use_signal(|| None::<NotificationPage>);
    let mut load_error = use_signal(|| None::<ApiError>);
    let mut marking_all = use_signal(|| false);

    // Refetch when the page or filter changes, and when the inbox changes (a new notification
    // arrived live, or one was read in the bell).
    use_effect(move || {
        let page = page();
        let unread = unread_only();
        let _ = INBOX.read().version;
        spawn(async move {
            let query = ListNotificationsQuery {
                unread_only: Some(unread.to_string()),
                page: Some(page.to_string()),
                limit: Some(PAGE_SIZE.to_string()),
            };
            let path = format!("/notifications{}", query_string(&query));
            match Call::get(path).fetch::<NotificationPage>().await {
                Ok(p) => {
                    list.set(Some(p));
                    load_error.set(None);
                }
                Err(err) => load_error.set(Some(err)),
            }
        });
    });

    let mark_all = move |_| {
        if marking_all() {
            return;
        }
        marking_all.set(true);
        spawn(async move {
            match Call::post("/notifications/read-all").send().await {
                Ok(()) => live::apply(|inbox| {
                    inbox.unread = 0;
                    inbox.latest.iter_mut().for_each(|n| n.read = true);
                }),
                Err(err) => toast::error(&err),
            }
            marking_all.set(false);
        });
    };

    let unread = INBOX().unread;
    let current = list();
    rsx! {
        Title { text: "Notifications · Tessera" }
        div { class: "flex flex-wrap items-end justify-between gap-3",
            div {
                h1 { class: "text-2xl font-semibold tracking-tight", "Notifications" }
                p { class: "mt-0.5 text-sm text-zinc-600 dark:text-zinc-400", aria_live: "polite",
                    if unread == 1 { "1 unread" } else { "{unread} unread" }
                }
            }
            div { class: "flex items-center gap-2",
                label { class: "flex items-center gap-2 text-sm",
                    input {
                        r#type: "checkbox",
                        class: "checkbox",
                        checked: unread_only(),
                        onchange: move |e| { unread_only.set(e.checked()); page.set(1); },
                    }
                    "Unread only"
                }
                button { r#type: "button", class: "btn-secondary", disabled: marking_all() || unread == 0, onclick: mark_all,
                    if marking_all() { "Marking…" } else { "Mark all read" }
                }
            }
        }
        if let Some(err) = load_error() {
            p { role: "alert", class: "mt-4 rounded-lg border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-900 dark:border-red-900 dark:bg-red-950 dark:text-red-100",
                "Notifications could not be loaded. {err.message()}"
            }
        }
        div { class: "mt-4",
            match current {
                None => rsx! {
                    div { class: "card space-y-3 p-4", aria_busy: "true", aria_label: "Loading notifications",
                        for i in 0..4 { div { key: "{i}", class: "skeleton h-12 w-full" } }
                    }
                },
                Some(p) if p.data.is_empty() => rsx! {
                    div { class: "card px-6 py-12 text-center",
                        p { class: "text-base font-medium", if unread_only() { "No unread notifications" } else { "No notifications yet" } }
                        p { class: "mt-1 text-sm text-zinc-600 dark:text-zinc-400", "Creating and completing tasks sends you notes here, live." }
                    }
                },
                Some(p) => rsx! {
                    ul { role: "list", aria_label: "Notifications", class: "card divide-y divide-zinc-100 dark:divide-zinc-800",
                        for n in p.data.iter().cloned() {
                            NotificationRow { key: "{n.id}", notification: n, list }
                        }
                    }
                    Pager { current: p.meta.page, total_pages: p.meta.total_pages, class: "mt-4", page }
                },
            }
        }
    }
}

#[component]
fn NotificationRow(notification: Notification, list: Signal<Option<NotificationPage>>) -> Element {
    let mut busy = use_signal(|| false);
    let id = notification.id;
    let subject = notification
        .subject
        .clone()
        .unwrap_or_else(|| "Notification".to_owned());
    let (badge, kind) = tone(notification.r#type);
    let read = notification.read;
    let mark_read = move |_| {
        if busy() {
            return;
        }
        busy.set(true);
        // Optimistic: read at once, back to unread if the API refuses.
        set_read(&mut list, id, true);
        spawn(async move {
            match Call::patch(format!("/notifications/{id}/read"))
                .fetch::<Notification>()
                .await
            {
                Ok(_) => live::apply(|inbox| {
                    if let Some(n) = inbox.latest.iter_mut().find(|n| n.id == id && !n.read) {
                        n.read = true;
                    }
                    inbox.unread = inbox.unread.saturating_sub(1);
                }),
                Err(err) => {
                    set_read(&mut list, id, false);
                    toast::error(&err);
                }
            }
            busy.set(false);
        });
    };
    let delete = move |_| {
        if busy() {
            return;
        }
        busy.set(true);
        spawn(async move {
            match Call::delete(format!("/notifications/{id}")).send().await {
                Ok(()) => live::apply(|inbox| {
                    if !read {
                        inbox.unread = inbox.unread.saturating_sub(1);
                    }
                    inbox.latest.retain(|n| n.id != id);
                }),
                Err(err) => toast::error(&err),
            }
            busy.set(false);
        });
    };
    rsx! {
        li { class: "flex flex-wrap items-start gap-x-3 gap-y-1 px-4 py-3",
            span { class: "mt-2 size-2 shrink-0 rounded-full", class: if read { "bg-transparent" } else { "bg-indigo-600" }, aria_hidden: "true" }
            // At phone width the buttons wrap under the text instead of squeezing it.
            div { class: "min-w-0 flex-1 basis-56",
                div { class: "flex flex-wrap items-center gap-2",
                    p { class: "font-medium", class: if read { "text-zinc-600 dark:text-zinc-400" } else { "text-zinc-900 dark:text-zinc-100" },
                        if !read { span { class: "sr-only", "Unread: " } }
                        "{subject}"
                    }
                    span { class: "badge {badge}", "{kind}" }
                }
                p { class: "mt-0.5 break-words text-sm text-zinc-600 dark:text-zinc-300", "{notification.message}" }
                p { class: "mt-1 text-xs text-zinc-600 dark:text-zinc-400", "{time::datetime(&notification.created_at)}" }
            }
            div { class: "ml-auto flex shrink-0 items-center gap-1",
                if !read {
                    button { r#type: "button", class: "btn-ghost text-xs", disabled: busy(), aria_label: "Mark read: {subject}", onclick: mark_read, "Mark read" }
                }
                button { r#type: "button", class: "btn-ghost text-xs hover:text-red-600", disabled: busy(), aria_label: "Delete: {subject}", onclick: delete, "Delete" }
            }
        }
    }
}

fn set_read(list: &mut Signal<Option<NotificationPage>>, id: uuid::Uuid, read: bool) {
    if let Some(p) = list.write().as_mut()
        && let Some(n) = p.data.iter_mut().find(|n| n.id == id)
    {
        n.read = read;
    }
}
