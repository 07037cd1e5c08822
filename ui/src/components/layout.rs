//! The frames around pages: the root (messages, shortcuts, theme, connection state), the
//! centred card of the account forms, and the signed-in shell with its header.

use dioxus::prelude::*;
use futures_util::StreamExt;
use wasm_bindgen::JsCast;

use crate::Route;
use crate::api::{REACHABILITY, Reachability};
use crate::components::toast::{ToastAction, ToastHost};
use crate::live::{self, INBOX};
use crate::net;
use crate::pages::tasks;
use crate::session::{self, AUTH, Auth};

/// The theme choice; `System` follows `prefers-color-scheme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    /// Follow the system setting.
    System,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

impl Theme {
    fn key(self) -> &'static str {
        match self {
            Theme::System => "system",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Theme::System => "System",
            Theme::Light => "Light",
            Theme::Dark => "Dark",
        }
    }

    fn stored() -> Theme {
        match net::local_storage()
            .and_then(|s| s.get_item("tessera-theme").ok().flatten())
            .as_deref()
        {
            Some("light") => Theme::Light,
            Some("dark") => Theme::Dark,
            _ => Theme::System,
        }
    }
}

/// The theme in use.
pub static THEME: GlobalSignal<Theme> = Signal::global(Theme::stored);

/// The text of the header's search field; the task list filters by it.
pub static SEARCH: GlobalSignal<String> = Signal::global(String::new);

/// Set by the `n` shortcut: the task list focuses its quick-add field when it sees it.
pub static FOCUS_NEW: GlobalSignal<bool> = Signal::global(|| false);

/// Which header panel is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    /// The notification bell's panel.
    Bell,
    /// The account menu.
    Account,
    /// The navigation menu at phone width.
    Nav,
}

/// The open panel, if any; `Esc` closes it.
pub static PANEL: GlobalSignal<Option<Panel>> = Signal::global(|| None);

fn system_dark() -> Option<web_sys::MediaQueryList> {
    web_sys::window()?
        .match_media("(prefers-color-scheme: dark)")
        .ok()
        .flatten()
}

fn apply_theme(theme: Theme) {
    let dark = match theme {
        Theme::Dark => true,
        Theme::Light => false,
        Theme::System => system_dark().is_some_and(|m| m.matches()),
    };
    if let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = root.class_list().toggle_with_force("dark", dark);
    }
}

/// Chooses a theme and remembers it in this browser.
pub fn set_theme(theme: Theme) {
    if let Some(storage) = net::local_storage() {
        let _ = storage.set_item("tessera-theme", theme.key());
    }
    *THEME.write() = theme;
}

fn typing_in_a_field(event: &web_sys::KeyboardEvent) -> bool {
    event
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .is_some_and(|e| {
            matches!(e.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
                || e.has_attribute("contenteditable")
        })
}

/// Every page's frame.
#[component]
pub fn Root() -> Element {
    // Keyboard shortcuts: `n` new task, `/` search, Esc closes panels.
    use_hook(|| {
        spawn(async move {
            let Some(document) = web_sys::window().and_then(|w| w.document()) else {
                return;
            };
            let Some((_listener, mut keys)) = net::events(&document, "keydown") else {
                return;
            };
            while let Some(event) = keys.next().await {
                let Ok(key) = event.dyn_into::<web_sys::KeyboardEvent>() else {
                    continue;
                };
                if key.key() == "Escape" {
                    if PANEL.peek().is_some() {
                        *PANEL.write() = None;
                    }
                    continue;
                }
                if key.ctrl_key() || key.meta_key() || key.alt_key() || typing_in_a_field(&key) {
                    continue;
                }
                if session::access_token().is_none() {
                    continue;
                }
                match key.key().as_str() {
                    "n" => {
                        key.prevent_default();
                        *FOCUS_NEW.write() = true;
                        navigator().push(Route::Tasks {});
                    }
                    "/" => {
                        key.prevent_default();
                        net::focus("search-tasks");
                    }
                    _ => {}
                }
            }
        })
    });
    // The theme, and the system setting while the choice is "System".
    use_effect(move || apply_theme(THEME()));
    use_hook(|| {
        spawn(async move {
            let Some(query) = system_dark() else { return };
            let Some((_listener, mut changes)) = net::events(&query, "change") else {
                return;
            };
            while changes.next().await.is_some() {
                apply_theme(*THEME.peek());
            }
        })
    });
    let reach = REACHABILITY();
    rsx! {
        a { href: "#main-content", class: "skip-link", "Skip to content" }
        if reach != Reachability::Online {
            div { role: "status", class: "connection-banner",
                if reach == Reachability::Offline {
                    "You are offline or Tessera cannot be reached. Changes will not be saved until the connection is back."
                } else {
                    "Tessera is temporarily unavailable. Some actions may fail; try again in a moment."
                }
            }
        }
        Outlet::<Route> {}
        ToastHost {
            on_action: move |action| match action {
                ToastAction::UndoDelete(key) => tasks::undo_delete(key),
            },
        }
    }
}

/// The account forms: a centred card under the product name. Signed-in users go to their tasks.
#[component]
pub fn PublicLayout() -> Element {
    let signed_in = matches!(&*AUTH.read(), Auth::SignedIn(_));
    use_effect(move || {
        if matches!(&*AUTH.read(), Auth::SignedIn(_)) {
            navigator().replace(Route::Tasks {});
        }
    });
    rsx! {
        main { id: "main-content", class: "flex min-h-screen flex-col items-center justify-center px-4 py-10",
            Link { to: Route::Landing {}, class: "mb-8 flex items-center gap-2 text-xl font-semibold tracking-tight text-zinc-900 dark:text-zinc-50",
                Logo {}
                "Tessera"
            }
            div { class: "card w-full max-w-sm p-6 sm:p-8",
                if !signed_in {
                    Outlet::<Route> {}
                }
            }
        }
    }
}

/// The product mark.
#[component]
pub fn Logo() -> Element {
    rsx! {
        span { class: "grid size-7 grid-cols-2 gap-0.5 rounded-md bg-indigo-600 p-1", aria_hidden: "true",
            span { class: "rounded-sm bg-white/90" }
            span { class: "rounded-sm bg-white/50" }
            span { class: "rounded-sm bg-white/50" }
            span { class: "rounded-sm bg-white/90" }
        }
    }
}

/// The signed-in frame: the header, the live notification stream, and the page.
#[component]
pub fn AppShell() -> Element {
    let auth = AUTH();
    use_effect(move || {
        if matches!(&*AUTH.read(), Auth::SignedOut { .. }) {
            navigator().replace(Route::Login {});
        }
    });
    match auth {
        Auth::Checking => rsx! { PageSkeleton {} },
        Auth::SignedOut { .. } => rsx! { PageSkeleton {} },
        Auth::SignedIn(_) => rsx! { SignedInShell {} },
    }
}

#[component]
fn SignedInShell() -> Element {
    // The stream runs while this frame is mounted; it stops (and closes) on sign-out.
    use_hook(|| spawn(live::run()));
    rsx! {
        Header {}
        main { id: "main-content", class: "mx-auto w-full max-w-[1100px] px-4 pb-24 pt-6 sm:px-6",
            Outlet::<Route> {}
        }
    }
}

/// What shows while the session is being checked: the frame's shape, no content yet.
#[component]
fn PageSkeleton() -> Element {
    rsx! {
        div { class: "h-14 border-b border-zinc-200 bg-white dark:border-zinc-800 dark:bg-zinc-900" }
        div { class: "mx-auto max-w-[1100px] space-y-3 px-4 pt-6 sm:px-6", aria_busy: "true", aria_label: "Loading",
            div { class: "skeleton h-8 w-40" }
            div { class: "skeleton h-12 w-full" }
            div { class: "skeleton h-12 w-full" }
            div { class: "skeleton h-12 w-full" }
        }
    }
}

#[component]
fn Header() -> Element {
    let user = session::user();
    let is_admin = user.as_ref().is_some_and(|u| u.is_admin());
    let email = user.map(|u| u.user.email).unwrap_or_default();
    let route = use_route::<Route>();
    let panel = PANEL();
    let nav_link = |active: bool| {
        if active {
            "nav-link nav-link-active"
        } else {
            "nav-link"
        }
    };
    let on_tasks = matches!(route, Route::Tasks {} | Route::TaskDetail { .. });
    let on_users = matches!(route, Route::AdminUsers {});
    rsx! {
        header { class: "sticky top-0 z-40 border-b border-zinc-200 bg-white/95 backdrop-blur dark:border-zinc-800 dark:bg-zinc-900/95",
            div { class: "mx-auto flex h-14 max-w-[1100px] items-center gap-2 px-4 sm:gap-4 sm:px-6",
                button {
                    r#type: "button",
                    class: "btn-ghost px-2 sm:hidden",
                    aria_label: "Menu",
                    aria_expanded: if panel == Some(Panel::Nav) { "true" } else { "false" },
                    aria_controls: "mobile-nav",
                    onclick: move |_| toggle(Panel::Nav),
                    svg { class: "size-5", view_box: "0 0 20 20", fill: "currentColor", "aria-hidden": "true",
                        path { d: "M3 5h14v2H3zM3 9h14v2H3zM3 13h14v2H3z" }
                    }
                }
                Link { to: Route::Tasks {}, class: "flex items-center gap-2 font-semibold tracking-tight text-zinc-900 dark:text-zinc-50",
                    Logo {}
                    span { class: "sr-only sm:not-sr-only", "Tessera" }
                }
                nav { aria_label: "Main", class: "hidden items-center gap-1 sm:flex",
                    Link { to: Route::Tasks {}, class: nav_link(on_tasks), "Tasks" }
                    if is_admin {
                        Link { to: Route::AdminUsers {}, class: nav_link(on_users), "Users" }
                    }
                }
                div { class: "ml-auto flex min-w-0 items-center gap-1 sm:gap-2",
                    SearchBox {}
                    Bell {}
                    AccountMenu { email }
                }
            }
            if panel == Some(Panel::Nav) {
                nav { id: "mobile-nav", aria_label: "Main", class: "border-t border-zinc-200 px-4 py-2 sm:hidden dark:border-zinc-800",
                    Link { to: Route::Tasks {}, class: "block rounded-md px-2 py-2 {nav_link(on_tasks)}", onclick: move |_| close_panel(), "Tasks" }
                    if is_admin {
                        Link { to: Route::AdminUsers {}, class: "block rounded-md px-2 py-2 {nav_link(on_users)}", onclick: move |_| close_panel(), "Users" }
                    }
                }
            }
        }
    }
}

fn toggle(panel: Panel) {
    let open = *PANEL.peek() == Some(panel);
    *PANEL.write() = if open { None } else { Some(panel) };
}

fn close_panel() {
    *PANEL.write() = None;
}

#[component]
fn SearchBox() -> Element {
    let route = use_route::<Route>();
    rsx! {
        div { role: "search", class: "relative min-w-0",
            label { r#for: "search-tasks", class: "sr-only", "Search tasks" }
            input {
                id: "search-tasks",
                r#type: "search",
                class: "input h-9 w-28 py-1 sm:w-56",
                placeholder: "Search",
                value: "{SEARCH}",
                autocomplete: "off",
                oninput: move |e| {
                    *SEARCH.write() = e.value();
                    if !matches!(route, Route::Tasks {}) {
                        navigator().push(Route::Tasks {});
                    }
                },
            }
        }
    }
}

#[component]
fn Bell() -> Element {
    let inbox = INBOX();
    let open = PANEL() == Some(Panel::Bell);
    let unread = inbox.unread;
    let label = format!("Notifications, {unread} unread");
    rsx! {
        div { class: "relative",
            button {
                r#type: "button",
                class: "btn-ghost relative px-2",
                aria_label: "{label}",
                aria_expanded: if open { "true" } else { "false" },
                aria_controls: "bell-panel",
                onclick: move |_| toggle(Panel::Bell),
                svg { class: "size-5", view_box: "0 0 24 24", fill: "none", stroke: "currentColor", stroke_width: "1.8", "aria-hidden": "true",
                    path { d: "M6 8a6 6 0 1 1 12 0c0 7 3 9 3 9H3s3-2 3-9" }
                    path { d: "M10.3 21a1.94 1.94 0 0 0 3.4 0" }
                }
                if unread > 0 {
                    span { class: "bell-count", aria_hidden: "true",
                        if unread > 99 { "99+" } else { "{unread}" }
                    }
                }
            }
            if open {
                div { id: "bell-panel", class: "panel right-0 w-80 max-w-[calc(100vw-2rem)]",
                    div { class: "flex items-center justify-between border-b border-zinc-200 px-4 py-2 dark:border-zinc-700",
                        h2 { class: "text-sm font-semibold", "Notifications" }
                        if !inbox.connected {
                            span { class: "text-xs text-zinc-600 dark:text-zinc-400", "Reconnecting…" }
                        }
                    }
                    if inbox.latest.is_empty() {
                        p { class: "px-4 py-6 text-center text-sm text-zinc-600 dark:text-zinc-400", "Nothing new. Creating or completing a task sends you a note here." }
                    } else {
                        ul { class: "max-h-96 divide-y divide-zinc-100 overflow-y-auto dark:divide-zinc-800",
                            for n in inbox.latest.iter().take(5).cloned() {
                                li { key: "{n.id}", class: "px-4 py-3 text-sm",
                                    div { class: "flex items-start gap-2",
                                        if !n.read {
                                            span { class: "mt-1.5 size-2 shrink-0 rounded-full bg-indigo-600", aria_hidden: "true" }
                                            span { class: "sr-only", "Unread: " }
                                        }
                                        div { class: "min-w-0",
                                            p { class: "font-medium text-zinc-900 dark:text-zinc-100", {n.subject.clone().unwrap_or_else(|| "Notification".to_owned())} }
                                            p { class: "truncate text-zinc-600 dark:text-zinc-400", "{n.message}" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    div { class: "border-t border-zinc-200 px-4 py-2 dark:border-zinc-700",
                        Link { to: Route::Notifications {}, class: "link text-sm", onclick: move |_| close_panel(), "View all notifications" }
                    }
                }
            }
        }
    }
}

#[component]
fn AccountMenu(email: String) -> Element {
    let open = PANEL() == Some(Panel::Account);
    let theme = THEME();
    let mut signing_out = use_signal(|| false);
    rsx! {
        div { class: "relative",
            button {
                r#type: "button",
                class: "btn-ghost px-2",
                aria_label: "Account menu",
                aria_haspopup: "menu",
                aria_expanded: if open { "true" } else { "false" },
                aria_controls: "account-menu",
                onclick: move |_| toggle(Panel::Account),
                span { class: "grid size-7 place-items-center rounded-full bg-zinc-200 text-xs font-semibold uppercase text-zinc-700 dark:bg-zinc-700 dark:text-zinc-100", aria_hidden: "true",
                    {email.chars().next().map(String::from).unwrap_or_default()}
                }
            }
            if open {
                div { id: "account-menu", role: "menu", aria_label: "Account", class: "panel right-0 w-64 py-1",
                    p { class: "truncate px-4 py-2 text-xs text-zinc-600 dark:text-zinc-400", "Signed in as {email}" }
                    Link { to: Route::Profile {}, role: "menuitem", class: "menu-item", onclick: move |_| close_panel(), "Profile" }
                    div { role: "group", aria_label: "Theme", class: "flex items-center gap-1 px-4 py-2",
                        span { class: "mr-auto text-sm text-zinc-600 dark:text-zinc-300", "Theme" }
                        for choice in [Theme::System, Theme::Light, Theme::Dark] {
                            button {
                                r#type: "button",
                                role: "menuitemradio",
                                aria_checked: if theme == choice { "true" } else { "false" },
                                class: "chip",
                                class: if theme == choice { "chip-on" },
                                onclick: move |_| set_theme(choice),
                                "{choice.label()}"
                            }
                        }
                    }
                    button {
                        r#type: "button",
                        role: "menuitem",
                        class: "menu-item w-full text-left",
                        disabled: signing_out(),
                        onclick: move |_| {
                            signing_out.set(true);
                            close_panel();
                            spawn(async move {
                                session::logout().await;
                            });
                        },
                        if signing_out() { "Signing out…" } else { "Sign out" }
                    }
                }
            }
        }
    }
}
