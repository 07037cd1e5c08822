//! `/tasks/{id}`: one task, every field, editable.

use dioxus::prelude::*;
use tessera_contracts::patch::Patch;
use tessera_task::wire::{Task, TaskPriority, TaskStatus, UpdateTaskRequest};

use crate::Route;
use crate::api::{ApiError, Call};
use crate::components::Title;
use crate::components::badge::{PriorityBadge, StatusBadge, priority_label, status_label};
use crate::components::dialog::ConfirmDialog;
use crate::components::form::{Field, Select, SubmissionAlert, TextArea, use_submission};
use crate::components::toast;
use crate::time;

/// The change between the stored task and the form: only what was edited is sent.
fn changes(
    task: &Task,
    title: &str,
    description: &str,
    status: &str,
    priority: &str,
    due: &str,
) -> UpdateTaskRequest {
    let mut change = UpdateTaskRequest::default();
    if title != task.title {
        change.title = Patch::Set(title.to_owned());
    }
    let stored_description = task.description.clone().unwrap_or_default();
    if description != stored_description {
        change.description = if description.trim().is_empty() {
            Patch::Clear
        } else {
            Patch::Set(description.to_owned())
        };
    }
    if status != task.status.as_str() {
        change.status = Patch::Set(status.to_owned());
    }
    if priority != task.priority.as_str() {
        change.priority = Patch::Set(priority.to_owned());
    }
    if due != time::due_to_input(&task.due_date) {
        change.due_date = match time::due_from_input(due) {
            Some(value) => Patch::Set(value),
            None => Patch::Clear,
        };
    }
    change
}

/// `/tasks/{id}`.
#[component]
pub fn TaskDetail(id: String) -> Element {
    let mut task = use_signal(|| None::<Task>);
    let mut missing = use_signal(|| None::<ApiError>);
    let mut title = use_signal(String::new);
    let mut description = use_signal(String::new);
    let mut status = use_signal(String::new);
    let mut priority = use_signal(String::new);
    let mut due = use_signal(String::new);
    let form = use_submission();
    let mut saved = use_signal(|| false);

    let mut fill = move |t: &Task| {
        title.set(t.title.clone());
        description.set(t.description.clone().unwrap_or_default());
        status.set(t.status.as_str().to_owned());
        priority.set(t.priority.as_str().to_owned());
        due.set(time::due_to_input(&t.due_date));
    };
    let path = format!("/tasks/{id}");
    let load_path = path.clone();
    use_effect(use_reactive!(|load_path| {
        spawn(async move {
            match Call::get(load_path).fetch::<Task>().await {
                Ok(t) => {
                    fill(&t);
                    task.set(Some(t));
                }
                Err(err) => missing.set(Some(err)),
            }
        });
    }));

    let Some(current) = task() else {
        return rsx! {
            Title { text: "Task · Tessera" }
            if let Some(err) = missing() {
                div { class: "card px-6 py-12 text-center",
                    if err.status() == Some(404) || err.status() == Some(400) {
                        h1 { class: "text-lg font-medium", "Task not found" }
                        p { class: "mt-1 text-sm text-zinc-600 dark:text-zinc-400", "It may have been deleted, or the link is wrong." }
                    } else {
                        h1 { class: "text-lg font-medium", "This task could not be loaded" }
                        p { role: "alert", class: "mt-1 text-sm text-zinc-600 dark:text-zinc-400", "{err.message()}" }
                    }
                    Link { to: Route::Tasks {}, class: "link mt-4 inline-block text-sm", "Back to tasks" }
                }
            } else {
                div { class: "space-y-4", aria_busy: "true", aria_label: "Loading the task",
                    div { class: "skeleton h-8 w-2/3" }
                    div { class: "skeleton h-40 w-full" }
                }
            }
        };
    };

    let submit_path = path.clone();
    let stored = current.clone();
    let submit = move |e: FormEvent| {
        e.prevent_default();
        let change = changes(
            &stored,
            &title(),
            &description(),
            &status(),
            &priority(),
            &due(),
        );
        if change == UpdateTaskRequest::default() {
            saved.set(true);
            return;
        }
        saved.set(false);
        let path = submit_path.clone();
        form.run(async move {
            let t = Call::patch(path).json(&change).fetch::<Task>().await?;
            fill(&t);
            task.set(Some(t));
            saved.set(true);
            Ok(())
        });
    };
    let delete_path = path.clone();
    let mut deleting = use_signal(|| false);
    let mut confirm_delete = use_signal(|| false);
    let delete = move |_| {
        if deleting() {
            return;
        }
        deleting.set(true);
        let path = delete_path.clone();
        spawn(async move {
            match Call::delete(path).send().await {
                Ok(()) => {
                    toast::info("Task deleted.");
                    navigator().replace(Route::Tasks {});
                }
                Err(err) => {
                    toast::error(&err);
                    confirm_delete.set(false);
                }
            }
            deleting.set(false);
        });
    };
    let field = |name: &str| form.field(name);
    rsx! {
        Title { text: "{current.title} · Tessera" }
        nav { aria_label: "Breadcrumb", class: "text-sm",
            Link { to: Route::Tasks {}, class: "link", "← Tasks" }
        }
        div { class: "mt-3 flex flex-wrap items-start justify-between gap-3",
            h1 { class: "min-w-0 break-words text-2xl font-semibold tracking-tight", "{current.title}" }
            div { class: "flex items-center gap-1.5",
                StatusBadge { status: current.status }
                PriorityBadge { priority: current.priority }
            }
        }
        div { class: "mt-6 grid gap-6 lg:grid-cols-[1fr_16rem]",
            form { class: "card space-y-4 p-4 sm:p-6", novalidate: true, onsubmit: submit,
                SubmissionAlert { form }
                Field { id: "title", label: "Title", value: title, required: true, error: field("title") }
                TextArea { id: "description", label: "Description", value: description, rows: 6, error: field("description") }
                div { class: "grid gap-4 sm:grid-cols-3",
                    Select {
                        id: "status",
                        label: "Status",
                        value: status(),
                        options: TaskStatus::ALL.iter().map(|s| (s.as_str().to_owned(), status_label(*s).to_owned())).collect::<Vec<_>>(),
                        onchange: move |v| status.set(v),
                    }
                    Select {
                        id: "priority",
                        label: "Priority",
                        value: priority(),
                        options: TaskPriority::ALL.iter().map(|p| (p.as_str().to_owned(), priority_label(*p).to_owned())).collect::<Vec<_>>(),
                        onchange: move |v| priority.set(v),
                    }
                    Field { id: "due", label: "Due date", value: due, kind: "date", error: field("dueDate") }
                }
                div { class: "flex flex-wrap items-center gap-3 pt-2",
                    button { r#type: "submit", class: "btn-primary", disabled: form.busy(), aria_busy: if form.busy() { "true" },
                        if form.busy() { span { class: "spinner", aria_hidden: "true" } }
                        if form.busy() { "Saving…" } else { "Save changes" }
                    }
                    if saved() && !form.busy() {
                        span { role: "status", class: "text-sm text-emerald-700 dark:text-emerald-400", "Saved." }
                    }
                    button { r#type: "button", class: "btn-danger ml-auto", disabled: deleting(), onclick: move |_| confirm_delete.set(true),
                        "Delete task"
                    }
                }
            }
            aside { class: "card h-fit p-4 text-sm", aria_label: "Timeline",
                dl { class: "space-y-3",
                    div {
                        dt { class: "text-zinc-600 dark:text-zinc-400", "Created" }
                        dd { class: "font-medium", time { datetime: "{tessera_contracts::time::format(&current.created_at)}", "{time::datetime(&current.created_at)}" } }
                    }
                    div {
                        dt { class: "text-zinc-600 dark:text-zinc-400", "Updated" }
                        dd { class: "font-medium", time { datetime: "{tessera_contracts::time::format(&current.updated_at)}", "{time::datetime(&current.updated_at)}" } }
                    }
                    div {
                        dt { class: "text-zinc-600 dark:text-zinc-400", "Completed" }
                        dd { class: "font-medium",
                            match current.completed_at {
                                Some(t) => rsx! { time { datetime: "{tessera_contracts::time::format(&t)}", "{time::datetime(&t)}" } },
                                None => rsx! { "Not yet" },
                            }
                        }
                    }
                    div {
                        dt { class: "text-zinc-600 dark:text-zinc-400", "Due" }
                        dd { class: "font-medium",
                            match current.due_date {
                                Some(t) => rsx! { "{time::date(&t)}" },
                                None => rsx! { "No due date" },
                            }
                        }
                    }
                }
            }
        }
        if confirm_delete() {
            ConfirmDialog {
                title: "Delete this task?",
                body: format!("“{}” will be deleted. This cannot be undone.", current.title),
                confirm_label: "Delete task",
                busy: deleting(),
                on_cancel: move |_| confirm_delete.set(false),
                on_confirm: delete,
            }
        }
    }
}
