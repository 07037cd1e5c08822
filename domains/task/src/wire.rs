//! The task domain's JSON shapes and input rules. No server dependencies: the web app uses them.
//!
//! Requests carry enums and dates as strings and are parsed here ([`NewTask`], [`TaskChanges`],
//! [`ListTasks`]), so every bad value is a 400 naming its field rather than a generic serde
//! message.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tessera_contracts::UserId;
use tessera_contracts::page::PageRequest;
use tessera_contracts::patch::Patch;
use tessera_contracts::problem::FieldError;
use tessera_contracts::text::refuse_nul;
use utoipa::{IntoParams, ToSchema};

/// The longest title, in characters, counted as sent (surrounding whitespace included).
///
/// Every length limit in this module counts the string the client sent, which is what the
/// OpenAPI document's `maxLength` states; trimming only decides what is stored and whether
/// anything but whitespace was sent.
pub const TITLE_MAX: usize = 200;
/// The longest description, in characters.
pub const DESCRIPTION_MAX: usize = 5000;
/// The longest search text, in characters, counted as sent.
pub const QUERY_MAX: usize = 200;

/// A task's id.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, format = Uuid)]
pub struct TaskId(pub uuid::Uuid);

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    /// Not started (the default).
    Pending,
    /// Being worked on.
    InProgress,
    /// Done.
    Completed,
    /// Dropped.
    Cancelled,
}

impl TaskStatus {
    /// Every status, in wire order.
    pub const ALL: [TaskStatus; 4] = [
        TaskStatus::Pending,
        TaskStatus::InProgress,
        TaskStatus::Completed,
        TaskStatus::Cancelled,
    ];

    /// The wire (and database) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "PENDING",
            TaskStatus::InProgress => "IN_PROGRESS",
            TaskStatus::Completed => "COMPLETED",
            TaskStatus::Cancelled => "CANCELLED",
        }
    }

    /// Parses the wire spelling (exactly); `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// How urgent a task is; orders `LOW` < `MEDIUM` < `HIGH` < `URGENT`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskPriority {
    /// Can wait.
    Low,
    /// The default.
    Medium,
    /// Soon.
    High,
    /// Now.
    Urgent,
}

impl TaskPriority {
    /// Every priority, lowest first.
    pub const ALL: [TaskPriority; 4] = [
        TaskPriority::Low,
        TaskPriority::Medium,
        TaskPriority::High,
        TaskPriority::Urgent,
    ];

    /// The wire (and database) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskPriority::Low => "LOW",
            TaskPriority::Medium => "MEDIUM",
            TaskPriority::High => "HIGH",
            TaskPriority::Urgent => "URGENT",
        }
    }

    /// Parses the wire spelling (exactly); `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The sort rank the database keeps in `priority_rank` (LOW = 1 .. URGENT = 4).
    pub fn rank(self) -> i16 {
        match self {
            TaskPriority::Low => 1,
            TaskPriority::Medium => 2,
            TaskPriority::High => 3,
            TaskPriority::Urgent => 4,
        }
    }
}

/// A task as every route returns it. Absent optional values are `null`, never missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// The task id.
    pub id: TaskId,
    /// The owner.
    pub user_id: UserId,
    /// 1 to 200 characters.
    #[schema(example = "Write the quarterly report")]
    pub title: String,
    /// Up to 5000 characters.
    #[schema(required = true)]
    pub description: Option<String>,
    /// Where the task stands.
    pub status: TaskStatus,
    /// How urgent it is.
    pub priority: TaskPriority,
    /// When it is due.
    #[serde(with = "tessera_contracts::time::millis_opt")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub due_date: Option<DateTime<Utc>>,
    /// When it was created.
    #[serde(with = "tessera_contracts::time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    #[serde(with = "tessera_contracts::time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    /// When it moved into `COMPLETED`; `null` unless it is completed.
    #[serde(with = "tessera_contracts::time::millis_opt")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub completed_at: Option<DateTime<Utc>>,
}

/// `POST /tasks`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTaskRequest {
    /// At most 200 characters as sent, not only whitespace; stored without surrounding
    /// whitespace.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF9-\uFFFB][^\u0000]*$",
        example = "Write the quarterly report"
    )]
    pub title: String,
    /// Up to 5000 characters.
    #[serde(default)]
    #[schema(
        max_length = 5000,
        pattern = r"^[^\u0000]*$",
        example = "Figures for Q3, with the charts."
    )]
    pub description: Option<String>,
    /// `LOW`, `MEDIUM` (the default), `HIGH` or `URGENT`.
    #[serde(default)]
    #[schema(value_type = Option<TaskPriority>)]
    pub priority: Option<String>,
    /// An RFC 3339 timestamp.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-12-01T17:00:00.000Z")]
    pub due_date: Option<String>,
}

fn keep<T>(patch: &Patch<T>) -> bool {
    !patch.is_present()
}

/// `PATCH /tasks/{id}`: absent fields stay as they are; `null` clears `description` and
/// `dueDate` (and is refused for the others). At least one field must be present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTaskRequest {
    /// At most 200 characters as sent, not only whitespace (stored trimmed); not `null`.
    #[serde(default, skip_serializing_if = "keep")]
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = r"^[^\u0000]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF9-\uFFFB][^\u0000]*$", example = "Write the annual report")]
    pub title: Patch<String>,
    /// Up to 5000 characters; `null` clears it.
    #[serde(default, skip_serializing_if = "keep")]
    #[schema(value_type = Option<String>, max_length = 5000, pattern = r"^[^\u0000]*$")]
    pub description: Patch<String>,
    /// The new status; moving into `COMPLETED` sets `completedAt`, moving out clears it. Not
    /// `null`.
    #[serde(default, skip_serializing_if = "keep")]
    #[schema(value_type = TaskStatus)]
    pub status: Patch<String>,
    /// The new priority; not `null`.
    #[serde(default, skip_serializing_if = "keep")]
    #[schema(value_type = TaskPriority)]
    pub priority: Patch<String>,
    /// An RFC 3339 timestamp; `null` clears it.
    #[serde(default, skip_serializing_if = "keep")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_date: Patch<String>,
}

/// `GET /tasks` query parameters. Unknown parameters are refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListTasksQuery {
    /// Only tasks with this status.
    #[param(value_type = Option<TaskStatus>)]
    pub status: Option<String>,
    /// Only tasks with this priority.
    #[param(value_type = Option<TaskPriority>)]
    pub priority: Option<String>,
    /// Case-insensitive text that the title or the description contains: at most 200
    /// characters as sent, searched for without surrounding whitespace; blank means no filter.
    #[param(max_length = 200, pattern = r"^[^\u0000]*$")]
    pub q: Option<String>,
    /// The page number, from 1 (default 1) to 4294967295.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 4294967295.0, example = 1)]
    pub page: Option<String>,
    /// The page size, 1 to 100 (default 10).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, example = 10)]
    pub limit: Option<String>,
    /// `createdAt`, `-createdAt` (the default), `dueDate`, `-dueDate`, `priority` or
    /// `-priority`; `-` means descending. Tasks without a due date come last both ways.
    #[param(value_type = Option<TaskSort>, inline)]
    pub sort: Option<String>,
}

/// The orders `GET /tasks` offers; ties are broken by id, so pages are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub enum TaskSort {
    /// Oldest first.
    #[serde(rename = "createdAt")]
    CreatedAsc,
    /// Newest first (the default).
    #[default]
    #[serde(rename = "-createdAt")]
    CreatedDesc,
    /// Soonest due first; tasks without a due date last.
    #[serde(rename = "dueDate")]
    DueAsc,
    /// Latest due first; tasks without a due date last.
    #[serde(rename = "-dueDate")]
    DueDesc,
    /// `LOW` first, then oldest first.
    #[serde(rename = "priority")]
    PriorityAsc,
    /// `URGENT` first, then newest first.
    #[serde(rename = "-priority")]
    PriorityDesc,
}

impl TaskSort {
    /// Every sort.
    pub const ALL: [TaskSort; 6] = [
        TaskSort::CreatedAsc,
        TaskSort::CreatedDesc,
        TaskSort::DueAsc,
        TaskSort::DueDesc,
        TaskSort::PriorityAsc,
        TaskSort::PriorityDesc,
    ];

    /// The query-string spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskSort::CreatedAsc => "createdAt",
            TaskSort::CreatedDesc => "-createdAt",
            TaskSort::DueAsc => "dueDate",
            TaskSort::DueDesc => "-dueDate",
            TaskSort::PriorityAsc => "priority",
            TaskSort::PriorityDesc => "-priority",
        }
    }

    /// Parses the query-string spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

fn field_error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// A title: at most 200 characters as sent, not blank, stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTitle(String);

impl TaskTitle {
    /// Checks the length in characters as sent, then trims.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.chars().count() > TITLE_MAX {
            return Err(field_error("title", "must be at most 200 characters"));
        }
        let title = raw.trim();
        // Zero-width and other invisible characters alone look exactly like an empty title.
        if tessera_contracts::text::is_blank(title) {
            return Err(field_error("title", "must not be empty"));
        }
        refuse_nul("title", title)?;
        Ok(TaskTitle(title.to_owned()))
    }

    /// The trimmed title.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a description's length in characters; the text is kept as given.
pub fn parse_description(raw: String) -> Result<String, FieldError> {
    if raw.chars().count() > DESCRIPTION_MAX {
        return Err(field_error(
            "description",
            "must be at most 5000 characters",
        ));
    }
    refuse_nul("description", &raw)?;
    Ok(raw)
}

/// Parses an RFC 3339 timestamp for `field`, converting it to UTC.
pub fn parse_timestamp(field: &str, raw: &str) -> Result<DateTime<Utc>, FieldError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            field_error(
                field,
                "must be an RFC 3339 timestamp such as 2026-12-01T17:00:00Z",
            )
        })
}

fn parse_priority(raw: &str) -> Result<TaskPriority, FieldError> {
    TaskPriority::parse(raw)
        .ok_or_else(|| field_error("priority", "must be one of LOW, MEDIUM, HIGH, URGENT"))
}

fn parse_status(raw: &str) -> Result<TaskStatus, FieldError> {
    TaskStatus::parse(raw).ok_or_else(|| {
        field_error(
            "status",
            "must be one of PENDING, IN_PROGRESS, COMPLETED, CANCELLED",
        )
    })
}

/// Collects the error of a parse into `errors`, keeping the value when it is fine.
fn collect<T>(result: Result<T, FieldError>, errors: &mut Vec<FieldError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

/// A valid create request.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    /// The trimmed title.
    pub title: TaskTitle,
    /// The description.
    pub description: Option<String>,
    /// The priority (`MEDIUM` when none was given).
    pub priority: TaskPriority,
    /// The due date.
    pub due_date: Option<DateTime<Utc>>,
}

impl TryFrom<CreateTaskRequest> for NewTask {
    type Error = Vec<FieldError>;

    /// Checks every field and reports every bad one.
    fn try_from(req: CreateTaskRequest) -> Result<Self, Self::Error> {
        let mut errors = Vec::new();
        let title = collect(TaskTitle::parse(&req.title), &mut errors);
        let description = req
            .description
            .map(|d| collect(parse_description(d), &mut errors));
        let priority = req
            .priority
            .map(|p| collect(parse_priority(&p), &mut errors));
        let due_date = req
            .due_date
            .map(|d| collect(parse_timestamp("dueDate", &d), &mut errors));
        match title {
            Some(title) if errors.is_empty() => Ok(NewTask {
                title,
                description: description.flatten(),
                priority: priority.flatten().unwrap_or(TaskPriority::Medium),
                due_date: due_date.flatten(),
            }),
            _ => Err(errors),
        }
    }
}

/// A valid, non-empty set of changes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskChanges {
    /// A new title.
    pub title: Option<TaskTitle>,
    /// A new description, or `Clear`.
    pub description: Patch<String>,
    /// A new status.
    pub status: Option<TaskStatus>,
    /// A new priority.
    pub priority: Option<TaskPriority>,
    /// A new due date, or `Clear`.
    pub due_date: Patch<DateTime<Utc>>,
}

/// Why a `PATCH` body is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangesError {
    /// No field was present.
    Empty,
    /// These fields are invalid.
    Invalid(Vec<FieldError>),
}

/// A required field of a `PATCH` body: absent keeps it, `null` is refused.
fn required<T>(
    field: &str,
    patch: Patch<String>,
    parse: impl FnOnce(&str) -> Result<T, FieldError>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    match patch {
        Patch::Keep => None,
        Patch::Clear => {
            errors.push(field_error(field, "must not be null"));
            None
        }
        Patch::Set(v) => collect(parse(&v), errors),
    }
}

impl TryFrom<UpdateTaskRequest> for TaskChanges {
    type Error = ChangesError;

    /// Checks every present field and reports every bad one.
    fn try_from(req: UpdateTaskRequest) -> Result<Self, Self::Error> {
        let any = req.title.is_present()
            || req.description.is_present()
            || req.status.is_present()
            || req.priority.is_present()
            || req.due_date.is_present();
        if !any {
            return Err(ChangesError::Empty);
        }
        let mut errors = Vec::new();
        let title = required("title", req.title, TaskTitle::parse, &mut errors);
        let status = required("status", req.status, parse_status, &mut errors);
        let priority = required("priority", req.priority, parse_priority, &mut errors);
        let description = req
            .description
            .try_map(parse_description)
            .map_err(|e| errors.push(e))
            .unwrap_or_default();
        let due_date = req
            .due_date
            .try_map(|d| parse_timestamp("dueDate", &d))
            .map_err(|e| errors.push(e))
            .unwrap_or_default();
        if !errors.is_empty() {
            return Err(ChangesError::Invalid(errors));
        }
        Ok(TaskChanges {
            title,
            description,
            status,
            priority,
            due_date,
        })
    }
}

/// A valid `GET /tasks` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListTasks {
    /// Which page.
    pub page: PageRequest,
    /// Which tasks, in which order.
    pub filter: ListFilter,
}

impl ListTasksQuery {
    /// Parses every parameter, naming each bad one.
    pub fn parse(&self) -> Result<ListTasks, Vec<FieldError>> {
        let mut errors = Vec::new();
        let page = PageRequest::parse(self.page.as_deref(), self.limit.as_deref(), &mut errors);
        let filter = ListFilter::parse(self, &mut errors);
        if errors.is_empty() {
            Ok(ListTasks { page, filter })
        } else {
            Err(errors)
        }
    }
}

/// Which tasks a list shows, in which order (the part of [`ListTasks`] besides the page).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListFilter {
    /// Only this status.
    pub status: Option<TaskStatus>,
    /// Only this priority.
    pub priority: Option<TaskPriority>,
    /// Text the title or description contains, as given (trimmed; never empty).
    pub q: Option<String>,
    /// The order.
    pub sort: TaskSort,
}

impl ListFilter {
    /// Parses `status`, `priority`, `q` and `sort`, adding an error per bad value to `errors`.
    pub fn parse(query: &ListTasksQuery, errors: &mut Vec<FieldError>) -> Self {
        let status = query
            .status
            .as_deref()
            .and_then(|s| collect(parse_status(s), errors));
        let priority = query
            .priority
            .as_deref()
            .and_then(|p| collect(parse_priority(p), errors));
        let q = query
            .q
            .as_deref()
            .filter(|q| !q.trim().is_empty())
            .and_then(|q| {
                if q.chars().count() > QUERY_MAX {
                    errors.push(field_error("q", "must be at most 200 characters"));
                    None
                } else {
                    collect(refuse_nul("q", q), errors).map(|()| q.trim().to_owned())
                }
            });
        let sort = match query.sort.as_deref() {
            None => TaskSort::default(),
            Some(s) => TaskSort::parse(s).unwrap_or_else(|| {
                errors.push(field_error(
                    "sort",
                    "must be one of createdAt, -createdAt, dueDate, -dueDate, priority, -priority",
                ));
                TaskSort::default()
            }),
        };
        ListFilter {
            status,
            priority,
            q,
            sort,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn enums_use_screaming_snake_case() {
        assert_eq!(
            serde_json::to_string(&TaskStatus::InProgress)
                .ok()
                .as_deref(),
            Some("\"IN_PROGRESS\"")
        );
        for s in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).ok(),
                Some(format!("\"{}\"", s.as_str()))
            );
        }
        for p in TaskPriority::ALL {
            assert_eq!(TaskPriority::parse(p.as_str()), Some(p));
            assert_eq!(
                serde_json::to_string(&p).ok(),
                Some(format!("\"{}\"", p.as_str()))
            );
        }
        assert_eq!(TaskStatus::parse("in_progress"), None);
    }

    #[test]
    fn ranks_follow_the_order_of_priorities() {
        let ranks: Vec<i16> = TaskPriority::ALL.iter().map(|p| p.rank()).collect();
        assert_eq!(ranks, vec![1, 2, 3, 4]);
    }

    #[test]
    fn titles_are_trimmed_and_bounded_in_characters() {
        assert_eq!(TaskTitle::parse("  a  ").map(|t| t.0), Ok("a".to_owned()));
        assert!(TaskTitle::parse(" \t ").is_err());
        assert!(TaskTitle::parse(&"é".repeat(200)).is_ok());
        assert!(TaskTitle::parse(&"x".repeat(201)).is_err());
    }

    #[test]
    fn title_and_search_limits_count_surrounding_whitespace_as_sent() {
        // The document's maxLength counts the string as sent: 200 characters plus a tab is 201.
        let padded = format!("\t{}", "x".repeat(200));
        assert!(TaskTitle::parse(&padded).is_err());
        assert!(TaskTitle::parse(&format!(" {} ", "x".repeat(198))).is_ok());
        let mut errors = Vec::new();
        ListFilter::parse(
            &ListTasksQuery {
                q: Some(format!(" {}", "q".repeat(200))),
                ..Default::default()
            },
            &mut errors,
        );
        assert_eq!(fields(&errors), vec!["q"]);
        let mut errors = Vec::new();
        let filter = ListFilter::parse(
            &ListTasksQuery {
                q: Some(format!(" {} ", "q".repeat(198))),
                ..Default::default()
            },
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(filter.q, Some("q".repeat(198)));
    }

    #[test]
    fn a_create_request_reports_every_bad_field() {
        let req = CreateTaskRequest {
            title: " ".to_owned(),
            description: Some("d".repeat(5001)),
            priority: Some("SOON".to_owned()),
            due_date: Some("tomorrow".to_owned()),
        };
        let errors = NewTask::try_from(req).err().unwrap_or_default();
        assert_eq!(
            fields(&errors),
            vec!["title", "description", "priority", "dueDate"]
        );
    }

    #[test]
    fn a_create_request_gets_defaults_and_utc_dates() {
        let req = CreateTaskRequest {
            title: " Write ".to_owned(),
            due_date: Some("2026-12-01T18:00:00+01:00".to_owned()),
            ..Default::default()
        };
        let task = NewTask::try_from(req).ok();
        assert_eq!(task.as_ref().map(|t| t.title.as_str()), Some("Write"));
        assert_eq!(
            task.as_ref().map(|t| t.priority),
            Some(TaskPriority::Medium)
        );
        assert_eq!(
            task.and_then(|t| t.due_date)
                .map(|d| tessera_contracts::time::format(&d)),
            Some("2026-12-01T17:00:00.000Z".to_owned())
        );
    }

    #[test]
    fn a_patch_refuses_null_for_required_fields_and_clears_optional_ones() {
        let parse = |json: &str| {
            serde_json::from_str::<UpdateTaskRequest>(json)
                .map_err(|e| e.to_string())
                .map(TaskChanges::try_from)
        };
        assert_eq!(parse("{}"), Ok(Err(ChangesError::Empty)));
        let Ok(Err(ChangesError::Invalid(errors))) =
            parse(r#"{"title":null,"status":null,"priority":null}"#)
        else {
            panic!("nulls were accepted");
        };
        assert_eq!(fields(&errors), vec!["title", "status", "priority"]);
        let changes = parse(r#"{"description":null,"dueDate":null}"#);
        assert_eq!(
            changes,
            Ok(Ok(TaskChanges {
                description: Patch::Clear,
                due_date: Patch::Clear,
                ..Default::default()
            }))
        );
        assert!(parse(r#"{"titel":"x"}"#).is_err(), "unknown fields fail");
    }

    #[test]
    fn a_patch_serialises_only_what_it_changes() {
        let req = UpdateTaskRequest {
            status: Patch::Set("COMPLETED".to_owned()),
            due_date: Patch::Clear,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&req).ok().as_deref(),
            Some(r#"{"status":"COMPLETED","dueDate":null}"#)
        );
    }

    #[test]
    fn list_parameters_report_every_bad_value() {
        let query = ListTasksQuery {
            status: Some("DONE".to_owned()),
            priority: Some("x".to_owned()),
            q: Some("q".repeat(201)),
            sort: Some("title".to_owned()),
            ..Default::default()
        };
        let mut errors = Vec::new();
        ListFilter::parse(&query, &mut errors);
        assert_eq!(fields(&errors), vec!["status", "priority", "q", "sort"]);
        // The page comes first, then the filter.
        let errors = ListTasksQuery {
            limit: Some("0".to_owned()),
            ..query
        }
        .parse()
        .err()
        .unwrap_or_default();
        assert_eq!(
            fields(&errors),
            vec!["limit", "status", "priority", "q", "sort"]
        );

        let mut errors = Vec::new();
        let filter = ListFilter::parse(
            &ListTasksQuery {
                q: Some("  ".to_owned()),
                sort: Some("-dueDate".to_owned()),
                ..Default::default()
            },
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(filter.q, None, "blank q means no search");
        assert_eq!(filter.sort, TaskSort::DueDesc);
    }
}
