//! Status and priority badges: a colour and always a text label (never colour alone).

use dioxus::prelude::*;
use tessera_task::wire::{TaskPriority, TaskStatus};

/// The words for a status.
pub fn status_label(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Pending => "Pending",
        TaskStatus::InProgress => "In progress",
        TaskStatus::Completed => "Completed",
        TaskStatus::Cancelled => "Cancelled",
    }
}

/// The words for a priority.
pub fn priority_label(priority: TaskPriority) -> &'static str {
    match priority {
        TaskPriority::Low => "Low",
        TaskPriority::Medium => "Medium",
        TaskPriority::High => "High",
        TaskPriority::Urgent => "Urgent",
    }
}

/// A task's status.
#[component]
pub fn StatusBadge(status: TaskStatus) -> Element {
    let tone = match status {
        TaskStatus::Pending => "badge-zinc",
        TaskStatus::InProgress => "badge-blue",
        TaskStatus::Completed => "badge-green",
        TaskStatus::Cancelled => "badge-muted",
    };
    rsx! { span { class: "badge {tone}", "{status_label(status)}" } }
}

/// A task's priority.
#[component]
pub fn PriorityBadge(priority: TaskPriority) -> Element {
    let tone = match priority {
        TaskPriority::Low => "badge-muted",
        TaskPriority::Medium => "badge-zinc",
        TaskPriority::High => "badge-amber",
        TaskPriority::Urgent => "badge-red",
    };
    rsx! {
        span { class: "badge {tone}",
            span { class: "sr-only", "Priority: " }
            "{priority_label(priority)}"
        }
    }
}
