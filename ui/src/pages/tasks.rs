//! `/tasks`: the dashboard. The list with filters, search, sort and pages; quick add; complete,
//! reopen and delete in place, optimistically, with a rollback and a message when the API
//! refuses; delete with undo.

use std::cell::RefCell;
use std::collections::HashMap;

use dioxus::prelude::*;
use tessera_contracts::page::{Page, PageMeta};
use tessera_contracts::patch::Patch;
use tessera_task::wire::{
    CreateTaskRequest, ListTasksQuery, Task, TaskId, TaskPriority, TaskSort, TaskStatus,
    UpdateTaskRequest,
};

use crate::Route;
use crate::api::{ApiError, Call, query_string};
use crate::components::Title;
use crate::components::badge::{PriorityBadge, StatusBadge, priority_label, status_label};
use crate::components::form::{Pager, Select};
use crate::components::layout::{FOCUS_NEW, SEARCH};
use crate::components::toast::{self, ToastAction};
use crate::net;
use crate::time;

/// Bumped to make the task list fetch again (after an undo, or a failed delete).
pub static TASKS_RELOAD: GlobalSignal<u64> = Signal::global(|| 0);

/// How long a deleted task can be brought back before the delete is sent.
const UNDO_MS: u32 = 6_000;
/// Tasks per page.
const PAGE_SIZE: u32 = 20;

thread_local! {
    /// Deletes waiting out their undo time, by toast key.
    static PENDING_DELETES: RefCell<HashMap<u64, TaskId>> = RefCell::new(HashMap::new());
}

fn pending_delete_ids() -> Vec<TaskId> {
    PENDING_DELETES.with(|p| p.borrow().values().copied().collect())
}

/// The toast's Undo: the delete is never sent and the list shows the task again.
pub fn undo_delete(key: u64) {
    let cancelled = PENDING_DELETES
        .with(|p| p.borrow_mut().remove(&key))
        .is_some();
    if cancelled {
        *TASKS_RELOAD.write() += 1;
        toast::info("Task restored.");
    }
}

fn schedule_delete(task: &Task) {
    let id = task.id;
    let key = toast::with_action(
        format!("Deleted “{}”.", task.title),
        "Undo",
        ToastAction::UndoDelete,
        UNDO_MS,
    );
    PENDING_DELETES.with(|p| p.borrow_mut().insert(key, id));
    dioxus::core::spawn_forever(async move {
        net::sleep(UNDO_MS).await;
        let still_pending = PENDING_DELETES
            .with(|p| p.borrow_mut().remove(&key))
            .is_some();
        if !still_pending {
            return;
        }
        if let Err(err) = Call::delete(format!("/tasks/{id}")).send().await {
            // 404: someone (another tab) deleted it already; that is what was wanted.
            if err.status() != Some(404) {
                toast::error(&err);
                *TASKS_RELOAD.write() += 1;
            }
        }
    });
}

/// The filters as they stand.
#[derive(Debug, Clone, PartialEq)]
struct Filters {
    status: String,
    priority: String,
    sort: String,
    q: String,
    page: u32,
}

impl Filters {
    fn query(&self) -> ListTasksQuery {
        let some = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
        ListTasksQuery {
            status: some(&self.status),
            priority: some(&self.priority),
            q: some(self.q.trim()),
            page: Some(self.page.to_string()),
            limit: Some(PAGE_SIZE.to_string()),
            sort: some(&self.sort),
        }
    }

    fn narrowed(&self) -> bool {
        !self.status.is_empty() || !self.priority.is_empty() || !self.q.trim().is_empty()
    }
}

/// A change to the list made before the API confirmed it.
fn patch_list(list: &mut Signal<Option<Page<Task>>>, change: impl FnOnce(&mut Page<Task>)) {
    if let Some(page) = list.write().as_mut() {
        change(page);
    }
}

/// `/tasks`.
#[component]
pub fn Tasks() -> Element {
    let mut status = use_signal(String::new);
    let mut priority = use_signal(String::new);
    let mut sort = use_signal(|| TaskSort::default().as_str().to_owned());
    let mut page = use_signal(|| 1u32);
    let mut list = use_signal(|| None::<Page<Task>>);
    let mut load_error = use_signal(|| None::<ApiError>);
    let mut loading = use_signal(|| false);
    let mut sequence = use_signal(|| 0u64);
    let mut last_q = use_signal(String::new);

    // Fetch whenever a filter, the search text, the page or the reload counter changes. A newer
    // fetch makes an older answer stale; typing in search waits a moment before fetching.
    use_effect(move || {
        let filters = Filters {
            status: status(),
            priority: priority(),
            sort: sort(),
            q: SEARCH(),
            page: page(),
        };
        let _ = TASKS_RELOAD();
        let seq = *sequence.peek() + 1;
        sequence.set(seq);
        let typing = *last_q.peek() != filters.q;
        spawn(async move {
            if typing {
                net::sleep(200).await;
                if *sequence.peek() != seq {
                    return;
                }
            }
            loading.set(true);
            let result = Call::get(format!("/tasks{}", query_string(&filters.query())))
                .fetch::<Page<Task>>()
                .await;
            if *sequence.peek() != seq {
                return;
            }
            loading.set(false);
            last_q.set(filters.q.clone());
            match result {
                Ok(mut fetched) => {
                    let hidden = pending_delete_ids();
                    let before = fetched.data.len();
                    fetched.data.retain(|t| !hidden.contains(&t.id));
                    let removed = (before - fetched.data.len()) as u64;
                    fetched.meta.total = fetched.meta.total.saturating_sub(removed);
                    // A page past the end (after deletes) moves back to the last page.
                    if fetched.data.is_empty() && filters.page > 1 && fetched.meta.total_pages > 0 {
                        page.set(u32::try_from(fetched.meta.total_pages).unwrap_or(1));
                    }
                    list.set(Some(fetched));
                    load_error.set(None);
                }
                Err(err) => load_error.set(Some(err)),
            }
        });
    });

    // The `n` shortcut lands here with the quick-add field focused.
    use_effect(move || {
        if FOCUS_NEW() {
            *FOCUS_NEW.write() = false;
            net::focus("new-task");
        }
    });

    let filters_now = Filters {
        status: status(),
        priority: priority(),
        sort: sort(),
        q: SEARCH(),
        page: page(),
    };
    let narrowed = filters_now.narrowed();
    let current = list();
    let meta = current.as_ref().map(|p| p.meta);
    rsx! {
        Title { text: "Tasks · Tessera" }
        div { class: "flex flex-wrap items-end justify-between gap-3",
            div {
                h1 { class: "text-2xl font-semibold tracking-tight", "Tasks" }
                p { class: "mt-0.5 text-sm text-zinc-600 dark:text-zinc-400", aria_live: "polite",
                    match meta {
                        Some(m) => count_text(m),
                        None => "Loading your tasks…".to_owned(),
                    }
                }
            }
            p { class: "hidden text-xs text-zinc-600 sm:block dark:text-zinc-400",
                kbd { "n" } " new task · " kbd { "/" } " search"
            }
        }
        QuickAdd { list }
        div { class: "mt-4 flex flex-wrap items-end gap-3",
            Select {
                id: "filter-status",
                label: "Status",
                value: status(),
                options: std::iter::once(("".to_owned(), "All".to_owned()))
                    .chain(TaskStatus::ALL.iter().map(|s| (s.as_str().to_owned(), status_label(*s).to_owned())))
                    .collect::<Vec<_>>(),
                onchange: move |v| { status.set(v); page.set(1); },
            }
            Select {
                id: "filter-priority",
                label: "Priority",
                value: priority(),
                options: std::iter::once(("".to_owned(), "All".to_owned()))
                    .chain(TaskPriority::ALL.iter().map(|p| (p.as_str().to_owned(), priority_label(*p).to_owned())))
                    .collect::<Vec<_>>(),
                onchange: move |v| { priority.set(v); page.set(1); },
            }
            Select {
                id: "sort",
                label: "Sort",
                value: sort(),
                options: TaskSort::ALL.iter().map(|s| (s.as_str().to_owned(), sort_label(*s).to_owned())).collect::<Vec<_>>(),
                onchange: move |v| { sort.set(v); page.set(1); },
            }
            if narrowed {
                button {
                    r#type: "button",
                    class: "btn-ghost h-9",
                    onclick: move |_| {
                        status.set(String::new());
                        priority.set(String::new());
                        *SEARCH.write() = String::new();
                        page.set(1);
                    },
                    "Clear filters"
                }
            }
        }
        if let Some(err) = load_error() {
            div { role: "alert", class: "mt-4 flex items-center justify-between gap-3 rounded-lg border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-900 dark:border-red-900 dark:bg-red-950 dark:text-red-100",
                div {
                    p { "Your tasks could not be loaded. {err.message()}" }
                    if let Some(rid) = err.request_id() {
                        p { class: "mt-1 font-mono text-xs opacity-75", "Request ID: {rid}" }
                    }
                }
                button { r#type: "button", class: "btn-secondary", onclick: move |_| *TASKS_RELOAD.write() += 1, "Retry" }
            }
        }
        div { class: "mt-4", aria_busy: if loading() { "true" } else { "false" },
            match current {
                None => rsx! { ListSkeleton {} },
                Some(p) if p.data.is_empty() => rsx! {
                    EmptyState { narrowed }
                },
                Some(p) => rsx! {
                    ul { role: "list", aria_label: "Tasks", class: "card divide-y divide-zinc-100 dark:divide-zinc-800",
                        class: if loading() { "opacity-70 transition-opacity" },
                        for task in p.data.iter().cloned() {
                            TaskRow { key: "{task.id}", task, list }
                        }
                    }
                },
            }
        }
        if let Some(m) = meta {
            Pager { current: m.page, total_pages: m.total_pages, busy: loading(), class: "mt-4", page }
        }
    }
}

fn count_text(meta: PageMeta) -> String {
    match meta.total {
        1 => "1 task".to_owned(),
        n => format!("{n} tasks"),
    }
}

fn sort_label(sort: TaskSort) -> &'static str {
    match sort {
        TaskSort::CreatedDesc => "Newest first",
        TaskSort::CreatedAsc => "Oldest first",
        TaskSort::DueAsc => "Due soonest",
        TaskSort::DueDesc => "Due latest",
        TaskSort::PriorityDesc => "Most urgent",
        TaskSort::PriorityAsc => "Least urgent",
    }
}

#[component]
fn ListSkeleton() -> Element {
    rsx! {
        div { class: "card divide-y divide-zinc-100 dark:divide-zinc-800", aria_label: "Loading tasks",
            for i in 0..5 {
                div { key: "{i}", class: "flex items-center gap-3 px-4 py-3",
                    div { class: "skeleton size-5 rounded" }
                    div { class: "skeleton h-4 flex-1" }
                    div { class: "skeleton h-5 w-16" }
                    div { class: "skeleton h-5 w-16" }
                }
            }
        }
    }
}

#[component]
fn EmptyState(narrowed: bool) -> Element {
    rsx! {
        div { class: "card px-6 py-12 text-center",
            if narrowed {
                p { class: "text-base font-medium", "No tasks match" }
                p { class: "mt-1 text-sm text-zinc-600 dark:text-zinc-400", "Try another status, priority or search, or clear the filters." }
            } else {
                p { class: "text-base font-medium", "No tasks yet" }
                p { class: "mt-1 text-sm text-zinc-600 dark:text-zinc-400",
                    "Type a title in “New task” above and press Enter. Press "
                    kbd { "n" }
                    " anywhere to start one."
                }
            }
        }
    }
}

/// Quick add: a title and Enter creates a task; priority, due date and a description can go
/// with it.
#[component]
fn QuickAdd(list: Signal<Option<Page<Task>>>) -> Element {
    let mut title = use_signal(String::new);
    let mut description = use_signal(String::new);
    let mut priority = use_signal(|| TaskPriority::Medium.as_str().to_owned());
    let mut due = use_signal(String::new);
    let mut details = use_signal(|| false);
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<ApiError>);

    let mut create = move || {
        if busy() || title().trim().is_empty() {
            if title().trim().is_empty() {
                error.set(None);
                net::focus("new-task");
            }
            return;
        }
        busy.set(true);
        error.set(None);
        let request = CreateTaskRequest {
            title: title(),
            description: Some(description()).filter(|d| !d.trim().is_empty()),
            priority: Some(priority()),
            due_date: time::due_from_input(&due()),
        };
        // Shown at once, replaced by the real task when the API answers.
        let placeholder = time::placeholder_task(&request);
        let placeholder_id = placeholder.id;
        patch_list(&mut list, |p| {
            p.data.insert(0, placeholder);
            p.meta.total += 1;
        });
        let key = net::random_uuid();
        spawn(async move {
            let created = Call::post("/tasks")
                .header("idempotency-key", key)
                .json(&request)
                .fetch::<Task>()
                .await;
            match created {
                Ok(task) => {
                    let mut shown = false;
                    patch_list(&mut list, |p| {
                        if let Some(slot) = p.data.iter_mut().find(|t| t.id == placeholder_id) {
                            *slot = task;
                            shown = true;
                        }
                    });
                    // No placeholder to replace: the list was still loading, or a fetch sent
                    // before the task existed answered meanwhile and dropped it. Fetch again;
                    // that also makes any older fetch still in flight stale.
                    if !shown {
                        *TASKS_RELOAD.write() += 1;
                    }
                    title.set(String::new());
                    description.set(String::new());
                    due.set(String::new());
                    details.set(false);
                }
                Err(err) => {
                    patch_list(&mut list, |p| {
                        p.data.retain(|t| t.id != placeholder_id);
                        p.meta.total = p.meta.total.saturating_sub(1);
                    });
                    if err.field_errors().is_empty() {
                        toast::error(&err);
                    }
                    error.set(Some(err));
                }
            }
            busy.set(false);
            net::focus("new-task");
        });
    };

    let err = error();
    let title_error = err.as_ref().and_then(|e| e.field("title"));
    rsx! {
        form {
            class: "card mt-4 p-3",
            aria_label: "Add a task",
            onsubmit: move |e: FormEvent| {
                e.prevent_default();
                create();
            },
            div { class: "flex flex-wrap items-center gap-2",
                label { r#for: "new-task", class: "sr-only", "New task" }
                input {
                    id: "new-task",
                    class: "input min-w-0 basis-full sm:flex-1 sm:basis-60",
                    placeholder: "Add a task and press Enter",
                    autocomplete: "off",
                    maxlength: "200",
                    value: "{title}",
                    aria_invalid: if title_error.is_some() { "true" },
                    aria_describedby: if title_error.is_some() { "new-task-error" },
                    oninput: move |e| title.set(e.value()),
                }
                label { r#for: "new-priority", class: "sr-only", "Priority for quick add" }
                select {
                    id: "new-priority",
                    class: "input h-9 min-w-0 flex-1 basis-32 py-1 pr-8 sm:w-auto sm:flex-none sm:basis-auto",
                    onchange: move |e| priority.set(e.value()),
                    for p in TaskPriority::ALL {
                        option { value: p.as_str(), selected: p.as_str() == priority(), "{priority_label(p)}" }
                    }
                }
                label { r#for: "new-due", class: "sr-only", "Due date for quick add" }
                input {
                    id: "new-due",
                    r#type: "date",
                    class: "input h-9 min-w-0 flex-1 basis-32 py-1 sm:w-auto sm:flex-none sm:basis-auto",
                    value: "{due}",
                    oninput: move |e| due.set(e.value()),
                }
                button {
                    r#type: "button",
                    class: "btn-ghost h-9",
                    aria_expanded: if details() { "true" } else { "false" },
                    aria_controls: "new-description-box",
                    onclick: move |_| details.set(!details()),
                    if details() { "Hide details" } else { "Details" }
                }
                button { r#type: "submit", class: "btn-primary ml-auto h-9 sm:ml-0", disabled: busy(), aria_busy: if busy() { "true" },
                    if busy() { span { class: "spinner", aria_hidden: "true" } }
                    if busy() { "Adding…" } else { "Add task" }
                }
            }
            if let Some(message) = &title_error {
                p { id: "new-task-error", class: "field-error mt-1.5", "{message}" }
            }
            if details() {
                div { id: "new-description-box", class: "mt-2 space-y-1.5",
                    label { r#for: "new-description", class: "label", "Description" }
                    textarea {
                        id: "new-description",
                        class: "input min-h-20",
                        value: "{description}",
                        aria_invalid: if err.as_ref().and_then(|e| e.field("description")).is_some() { "true" },
                        oninput: move |e| description.set(e.value()),
                    }
                    if let Some(message) = err.as_ref().and_then(|e| e.field("description")) {
                        p { class: "field-error", "{message}" }
                    }
                }
            }
            if let Some(message) = err.as_ref().and_then(|e| e.field("dueDate")) {
                p { class: "field-error mt-1.5", "Due date: {message}" }
            }
        }
    }
}

/// One task in the list.
#[component]
fn TaskRow(task: Task, list: Signal<Option<Page<Task>>>) -> Element {
    let mut busy = use_signal(|| false);
    let saving = time::is_placeholder(&task);
    let done = task.status == TaskStatus::Completed;
    let id = task.id;
    let title = task.title.clone();
    let toggle = {
        let task = task.clone();
        move |_| {
            if busy() || saving {
                return;
            }
            busy.set(true);
            let before = task.clone();
            let next = if before.status == TaskStatus::Completed {
                TaskStatus::Pending
            } else {
                TaskStatus::Completed
            };
            let mut optimistic = before.clone();
            optimistic.status = next;
            optimistic.completed_at = (next == TaskStatus::Completed).then(chrono::Utc::now);
            patch_list(&mut list, |p| {
                if let Some(t) = p.data.iter_mut().find(|t| t.id == id) {
                    *t = optimistic;
                }
            });
            spawn(async move {
                let change = UpdateTaskRequest {
                    status: Patch::Set(next.as_str().to_owned()),
                    ..Default::default()
                };
                let answer = Call::patch(format!("/tasks/{id}"))
                    .json(&change)
                    .fetch::<Task>()
                    .await;
                patch_list(&mut list, |p| {
                    if let Some(t) = p.data.iter_mut().find(|t| t.id == id) {
                        *t = match &answer {
                            Ok(saved) => saved.clone(),
                            Err(_) => before.clone(),
                        };
                    }
                });
                if let Err(err) = answer {
                    toast::error(&err);
                }
                busy.set(false);
            });
        }
    };
    let remove = {
        let task = task.clone();
        move |_| {
            if saving {
                return;
            }
            patch_list(&mut list, |p| {
                p.data.retain(|t| t.id != id);
                p.meta.total = p.meta.total.saturating_sub(1);
            });
            schedule_delete(&task);
        }
    };
    let overdue = !done && task.due_date.is_some_and(|d| d < chrono::Utc::now());
    rsx! {
        li { class: "group flex items-center gap-3 px-3 py-2.5 sm:px-4",
            class: if saving { "opacity-60" },
            input {
                r#type: "checkbox",
                id: "complete-{id}",
                class: "checkbox",
                checked: done,
                disabled: busy() || saving,
                aria_label: "Complete {title}",
                onchange: toggle,
            }
            div { class: "min-w-0 flex-1",
                if saving {
                    span { class: "block truncate font-medium", "{title}" }
                } else {
                    Link {
                        to: Route::TaskDetail { id: id.to_string() },
                        class: if done { "block truncate font-medium text-zinc-600 line-through hover:text-indigo-600 dark:text-zinc-400" } else { "block truncate font-medium text-zinc-900 hover:text-indigo-600 dark:text-zinc-100 dark:hover:text-indigo-400" },
                        "{title}"
                    }
                }
                if let Some(d) = &task.description {
                    p { class: "truncate text-xs text-zinc-600 dark:text-zinc-400", "{d}" }
                }
                // At phone width the badges sit under the title, so the title keeps its room.
                div { class: "mt-1 flex flex-wrap items-center gap-1.5 sm:hidden",
                    TaskMeta { task: task.clone(), overdue }
                }
            }
            div { class: "hidden shrink-0 items-center justify-end gap-1.5 sm:flex",
                TaskMeta { task: task.clone(), overdue }
            }
            div { class: "shrink-0",
                button {
                    r#type: "button",
                    class: "btn-ghost px-2 text-zinc-400 hover:text-red-600 dark:hover:text-red-400",
                    aria_label: "Delete {title}",
                    disabled: saving,
                    onclick: remove,
                    svg { class: "size-4", view_box: "0 0 20 20", fill: "currentColor", "aria-hidden": "true",
                        path { d: "M8 2h4a1 1 0 0 1 1 1v1h4v2H3V4h4V3a1 1 0 0 1 1-1zm-3 6h10l-.8 9.1a1 1 0 0 1-1 .9H6.8a1 1 0 0 1-1-.9z" }
                    }
                }
            }
        }
    }
}

/// A task's due date, status and priority, as the list shows them.
#[component]
fn TaskMeta(task: Task, overdue: bool) -> Element {
    rsx! {
        if let Some(due) = task.due_date {
            span {
                class: if overdue { "text-xs font-medium text-red-600 dark:text-red-400" } else { "text-xs text-zinc-600 dark:text-zinc-400" },
                if overdue { "Overdue · " } else { "Due " }
                "{time::date(&due)}"
            }
        }
        StatusBadge { status: task.status }
        PriorityBadge { priority: task.priority }
    }
}
