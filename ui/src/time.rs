//! Dates as people read them, and the due-date convention.
//!
//! A due date is a day. The date input gives `YYYY-MM-DD`; it is sent as noon UTC of that day
//! and shown as its UTC date, so the day a user picked is the day everyone sees, in any time
//! zone within twelve hours of UTC.

use chrono::{DateTime, Local, NaiveDate, Utc};
use tessera_contracts::UserId;
use tessera_task::wire::{CreateTaskRequest, Task, TaskId, TaskPriority, TaskStatus};

/// `Dec 5, 2026`.
pub fn date(ts: &DateTime<Utc>) -> String {
    ts.format("%b %-d, %Y").to_string()
}

/// `Dec 5, 2026, 14:03` in the browser's time zone.
pub fn datetime(ts: &DateTime<Utc>) -> String {
    ts.with_timezone(&Local)
        .format("%b %-d, %Y, %H:%M")
        .to_string()
}

/// The RFC 3339 value for a date input's `YYYY-MM-DD`; `None` when empty or not a date.
pub fn due_from_input(value: &str) -> Option<String> {
    let day = NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").ok()?;
    Some(format!("{}T12:00:00.000Z", day.format("%Y-%m-%d")))
}

/// A date input's value for a due date.
pub fn due_to_input(ts: &Option<DateTime<Utc>>) -> String {
    ts.map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// A stand-in for a task being created, shown until the API answers. Its owner is the nil id,
/// which no real task has.
pub fn placeholder_task(request: &CreateTaskRequest) -> Task {
    let now = Utc::now();
    Task {
        id: TaskId(uuid::Uuid::new_v4()),
        user_id: UserId(uuid::Uuid::nil()),
        title: request.title.trim().to_owned(),
        description: request.description.clone(),
        status: TaskStatus::Pending,
        priority: request
            .priority
            .as_deref()
            .and_then(TaskPriority::parse)
            .unwrap_or(TaskPriority::Medium),
        due_date: request
            .due_date
            .as_deref()
            .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
            .map(|d| d.with_timezone(&Utc)),
        created_at: now,
        updated_at: now,
        completed_at: None,
    }
}

/// Whether a task is a [`placeholder_task`].
pub fn is_placeholder(task: &Task) -> bool {
    task.user_id.0.is_nil()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn a_due_date_is_noon_utc_of_the_picked_day_and_reads_back_as_that_day() {
        let sent = due_from_input("2026-12-24").unwrap();
        assert_eq!(sent, "2026-12-24T12:00:00.000Z");
        let stored = DateTime::parse_from_rfc3339(&sent)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(due_to_input(&Some(stored)), "2026-12-24");
        assert_eq!(date(&stored), "Dec 24, 2026");
        assert_eq!(due_from_input(""), None);
        assert_eq!(due_from_input("24/12/2026"), None);
        assert_eq!(due_to_input(&None), "");
    }

    #[test]
    fn a_placeholder_is_recognised_and_real_tasks_are_not() {
        let request = CreateTaskRequest {
            title: "  Call the bank ".to_owned(),
            priority: Some("HIGH".to_owned()),
            due_date: due_from_input("2026-12-24"),
            ..Default::default()
        };
        let mut task = placeholder_task(&request);
        assert!(is_placeholder(&task));
        assert_eq!(task.title, "Call the bank");
        assert_eq!(task.priority, TaskPriority::High);
        assert!(task.due_date.is_some());
        task.user_id = UserId(uuid::Uuid::new_v4());
        assert!(!is_placeholder(&task));
    }
}
