//! The task domain's queries. Each takes the connection, so the caller owns the transaction.

use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::dsl::{now, sql};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tessera_app::db::Prepared;
use tessera_contracts::UserId;
use uuid::Uuid;

use crate::schema::{idempotency_keys, tasks, user_task_counters};
use crate::wire::{ListFilter, TaskId, TaskSort};

/// A task row (without `priority_rank`, which the database derives from `priority`).
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = tasks)]
pub struct TaskRow {
    /// The task id.
    pub id: Uuid,
    /// The owner.
    pub user_id: Uuid,
    /// The trimmed title.
    pub title: String,
    /// The description.
    pub description: Option<String>,
    /// `PENDING`, `IN_PROGRESS`, `COMPLETED` or `CANCELLED`.
    pub status: String,
    /// `LOW`, `MEDIUM`, `HIGH` or `URGENT`.
    pub priority: String,
    /// When it is due.
    pub due_date: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// When it moved into `COMPLETED`.
    pub completed_at: Option<DateTime<Utc>>,
}

/// A new task.
#[derive(Debug, Insertable)]
#[diesel(table_name = tasks)]
pub struct NewTaskRow<'a> {
    /// The new id.
    pub id: Uuid,
    /// The owner.
    pub user_id: Uuid,
    /// The trimmed title.
    pub title: &'a str,
    /// The description.
    pub description: Option<&'a str>,
    /// The priority's wire spelling.
    pub priority: &'a str,
    /// When it is due.
    pub due_date: Option<DateTime<Utc>>,
}

/// Inserts a task (status `PENDING`).
pub async fn insert_task(
    conn: &mut AsyncPgConnection,
    task: &NewTaskRow<'_>,
) -> QueryResult<TaskRow> {
    // Up to four shapes: description and due date each present or DEFAULT.
    Prepared(
        diesel::insert_into(tasks::table)
            .values(task)
            .returning(TaskRow::as_returning()),
    )
    .get_result(conn)
    .await
}

/// Counts a created task for its owner and returns how many the owner ever created, this one
/// included. An upsert, so concurrent first tasks of one user cannot both see 1.
pub async fn bump_created_count(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<i64> {
    Prepared(
        diesel::insert_into(user_task_counters::table)
            .values((
                user_task_counters::user_id.eq(user_id.0),
                user_task_counters::created_count.eq(1_i64),
            ))
            .on_conflict(user_task_counters::user_id)
            .do_update()
            .set(user_task_counters::created_count.eq(user_task_counters::created_count + 1_i64))
            .returning(user_task_counters::created_count),
    )
    .get_result(conn)
    .await
}

/// The caller's task with this id; another user's task is `None` like a missing one.
///
/// The statement is [`find_task_query`]'s SQL, built once ([`tessera_app::db::sql_once`]) and run
/// with the same three binds: `GET /tasks/{id}` is the hottest lookup there is, and building its
/// SQL was a sixth of the instructions the process spent on one.
pub async fn find_task(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    id: TaskId,
) -> QueryResult<Option<TaskRow>> {
    static SQL: OnceLock<String> = OnceLock::new();
    let sql = tessera_app::db::sql_once(&SQL, || find_task_query(Uuid::nil(), Uuid::nil()))?;
    Prepared(
        diesel::sql_query(sql)
            .bind::<diesel::sql_types::Uuid, _>(id.0)
            .bind::<diesel::sql_types::Uuid, _>(user_id.0)
            .bind::<BigInt, _>(1_i64),
    )
    .get_result(conn)
    .await
    .optional()
}

/// [`find_task`]'s statement in diesel's terms; its binds are the id, the user and the limit.
fn find_task_query(id: Uuid, user_id: Uuid) -> impl diesel::query_builder::QueryFragment<Pg> {
    tasks::table
        .find(id)
        .filter(tasks::user_id.eq(user_id))
        .select(TaskRow::as_select())
        .limit(1)
}

/// The same as [`find_task`], locking the row until the transaction ends.
pub async fn lock_task(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    id: TaskId,
) -> QueryResult<Option<TaskRow>> {
    tasks::table
        .find(id.0)
        .filter(tasks::user_id.eq(user_id.0))
        .select(TaskRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// What happens to `completed_at` in an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Leave it.
    Keep,
    /// Set it to the transaction's time (the status moved into `COMPLETED`).
    Stamp,
    /// Clear it (the status moved out of `COMPLETED`).
    Clear,
}

/// Changes to some of a task's editable columns: `None` leaves a column as it is, and
/// `Some(None)` clears a nullable one.
#[derive(Debug, Default, Clone, Copy)]
pub struct TaskPatch<'a> {
    /// A new title.
    pub title: Option<&'a str>,
    /// A new description, or `Some(None)` to clear it.
    pub description: Option<Option<&'a str>>,
    /// A new status.
    pub status: Option<&'a str>,
    /// A new priority.
    pub priority: Option<&'a str>,
    /// A new due date, or `Some(None)` to clear it.
    pub due_date: Option<Option<DateTime<Utc>>>,
}

/// Writes `patch` to the caller's task in one `UPDATE`, bumps `updated_at` and applies
/// `completion`; `None` when the caller has no task with this id. Only the columns the patch
/// names are written: a column no one changes keeps whatever a concurrent update put there.
///
/// The statement is [`patch_task_query`]'s SQL for this shape of patch (which columns it names,
/// and the completion), built once per shape ([`tessera_app::db::sql_once`], 96 shapes at most)
/// and run with the same binds in the same order: building it was a seventh of the instructions
/// of a `PATCH`.
pub async fn patch_task(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    id: TaskId,
    patch: &TaskPatch<'_>,
    completion: Completion,
) -> QueryResult<Option<TaskRow>> {
    static SQL: [OnceLock<String>; PATCH_SHAPES] = [const { OnceLock::new() }; PATCH_SHAPES];
    let sql = tessera_app::db::sql_once(&SQL[patch_shape(patch, completion)], || {
        patch_task_query(user_id, id, patch, completion)
    })?;
    // The binds in the order patch_task_query's SQL numbers them (a unit test pins it).
    let mut query = diesel::sql_query(sql).into_boxed::<Pg>();
    if let Some(title) = patch.title {
        query = query.bind::<Text, _>(title);
    }
    if let Some(description) = patch.description {
        query = query.bind::<Nullable<Text>, _>(description);
    }
    if let Some(status) = patch.status {
        query = query.bind::<Text, _>(status);
    }
    if let Some(priority) = patch.priority {
        query = query.bind::<Text, _>(priority);
    }
    if let Some(due_date) = patch.due_date {
        query = query.bind::<Nullable<Timestamptz>, _>(due_date);
    }
    if completion == Completion::Clear {
        query = query.bind::<Nullable<Timestamptz>, _>(None::<DateTime<Utc>>);
    }
    let query = query
        .bind::<diesel::sql_types::Uuid, _>(id.0)
        .bind::<diesel::sql_types::Uuid, _>(user_id.0);
    Prepared(query).get_result(conn).await.optional()
}

/// How many shapes a patch's statement takes: five optional columns, three completions.
const PATCH_SHAPES: usize = 32 * 3;

/// The shape of a patch's statement, `0..PATCH_SHAPES`: one bit per column it names, times the
/// completion.
fn patch_shape(patch: &TaskPatch<'_>, completion: Completion) -> usize {
    let columns = [
        patch.title.is_some(),
        patch.description.is_some(),
        patch.status.is_some(),
        patch.priority.is_some(),
        patch.due_date.is_some(),
    ]
    .iter()
    .enumerate()
    .fold(0, |bits, (i, named)| bits | (usize::from(*named) << i));
    let completion = match completion {
        Completion::Keep => 0,
        Completion::Stamp => 1,
        Completion::Clear => 2,
    };
    completion * 32 + columns
}

/// [`patch_task`]'s statement in diesel's terms. Its binds: the columns the patch names in
/// field order, `NULL` for a cleared completion, then the id and the user.
fn patch_task_query<'a>(
    user_id: UserId,
    id: TaskId,
    patch: &TaskPatch<'a>,
    completion: Completion,
) -> impl diesel::query_builder::QueryFragment<Pg> + 'a {
    let stamp = (completion == Completion::Stamp).then(|| tasks::completed_at.eq(now));
    let clear =
        (completion == Completion::Clear).then(|| tasks::completed_at.eq(None::<DateTime<Utc>>));
    diesel::update(tasks::table.find(id.0).filter(tasks::user_id.eq(user_id.0)))
        .set((
            patch.title.map(|t| tasks::title.eq(t)),
            patch.description.map(|d| tasks::description.eq(d)),
            patch.status.map(|s| tasks::status.eq(s)),
            patch.priority.map(|p| tasks::priority.eq(p)),
            patch.due_date.map(|d| tasks::due_date.eq(d)),
            tasks::updated_at.eq(now),
            stamp,
            clear,
        ))
        .returning(TaskRow::as_returning())
}

/// Deletes the caller's task; false when the caller has no task with this id.
pub async fn delete_task(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    id: TaskId,
) -> QueryResult<bool> {
    let n = diesel::delete(tasks::table.find(id.0).filter(tasks::user_id.eq(user_id.0)))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// The text `q` searches. It must stay the expression of `tasks_user_search_trgm_idx`, or the
/// search stops using the index.
const SEARCH_TEXT: &str = "lower(title || ' ' || coalesce(description, ''))";

/// When a filtered list has at most this many matches, its page query sorts them instead of
/// walking the sort's index: the planner cannot know the count we already have, and a few old
/// matches would make that walk read every task of the user.
pub const FEW_MATCHES: i64 = 1_000;

/// Whether pg_trgm can take trigrams from `q` in a `LIKE '%q%'`: it needs a run of at least three
/// letters or digits. Without one the trigram index would be scanned whole.
fn has_trigram(q: &str) -> bool {
    q.split(|c: char| !c.is_alphanumeric())
        .any(|word| word.chars().count() >= 3)
}

/// One user's tasks matching `filter`, without order or page.
fn filtered<'a>(user_id: Uuid, filter: &ListFilter) -> tasks::BoxedQuery<'a, Pg> {
    let mut query = tasks::table.filter(tasks::user_id.eq(user_id)).into_boxed();
    if let Some(status) = filter.status {
        query = query.filter(tasks::status.eq(status.as_str()));
    }
    if let Some(priority) = filter.priority {
        // The rank, not the text: it is what the priority index holds.
        query = query.filter(tasks::priority_rank.eq(priority.rank()));
    }
    if let Some(q) = &filter.q {
        query = if has_trigram(q) {
            let pattern = format!("%{}%", tessera_app::pagination::like_escape(q));
            query.filter(
                sql::<Bool>(&format!("{SEARCH_TEXT} LIKE lower("))
                    .bind::<Text, _>(pattern)
                    .sql(")"),
            )
        } else {
            // The same match, in a form no index serves, so the user's own rows are filtered.
            query.filter(
                sql::<Bool>(&format!("strpos({SEARCH_TEXT}, lower("))
                    .bind::<Text, _>(q.clone())
                    .sql(")) > 0"),
            )
        };
    }
    query
}

fn is_filtered(filter: &ListFilter) -> bool {
    filter.status.is_some() || filter.priority.is_some() || filter.q.is_some()
}

/// How many of the user's tasks match `filter`.
async fn count_tasks(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    filter: &ListFilter,
) -> QueryResult<i64> {
    filtered(user_id.0, filter).count().get_result(conn).await
}

/// The page query of [`list_page`]. With `few`, the first sort key is wrapped in a no-op
/// (`+ 0`) that no index provides, so the planner fetches every match through the filter's
/// index and sorts them (see [`FEW_MATCHES`]).
fn list_query<'a>(
    user_id: Uuid,
    filter: &ListFilter,
    offset: i64,
    limit: i64,
    few: bool,
) -> tasks::BoxedQuery<'a, Pg, diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<TaskRow, Pg>>> {
    use diesel::PgSortExpressionMethods;
    use diesel::dsl::IntervalDsl;
    let query = filtered(user_id, filter).select(TaskRow::as_select());
    // Every order ends with the id so rows that tie keep one order across pages. Without `few`,
    // each order is one of the migration's indexes (read forwards or backwards).
    let query = match (filter.sort, few) {
        (TaskSort::CreatedDesc, false) => {
            query.order_by((tasks::created_at.desc(), tasks::id.desc()))
        }
        (TaskSort::CreatedDesc, true) => {
            query.order_by(((tasks::created_at + 0.seconds()).desc(), tasks::id.desc()))
        }
        (TaskSort::CreatedAsc, false) => query.order_by((tasks::created_at.asc(), tasks::id.asc())),
        (TaskSort::CreatedAsc, true) => {
            query.order_by(((tasks::created_at + 0.seconds()).asc(), tasks::id.asc()))
        }
        (TaskSort::DueAsc, false) => {
            query.order_by((tasks::due_date.asc().nulls_last(), tasks::id.asc()))
        }
        (TaskSort::DueAsc, true) => query.order_by((
            (tasks::due_date + 0.seconds()).asc().nulls_last(),
            tasks::id.asc(),
        )),
        (TaskSort::DueDesc, false) => {
            query.order_by((tasks::due_date.desc().nulls_last(), tasks::id.desc()))
        }
        (TaskSort::DueDesc, true) => query.order_by((
            (tasks::due_date + 0.seconds()).desc().nulls_last(),
            tasks::id.desc(),
        )),
        (TaskSort::PriorityAsc, false) => query.order_by((
            tasks::priority_rank.asc(),
            tasks::created_at.asc(),
            tasks::id.asc(),
        )),
        (TaskSort::PriorityAsc, true) => query.order_by((
            (tasks::priority_rank + 0_i16).asc(),
            tasks::created_at.asc(),
            tasks::id.asc(),
        )),
        (TaskSort::PriorityDesc, false) => query.order_by((
            tasks::priority_rank.desc(),
            tasks::created_at.desc(),
            tasks::id.desc(),
        )),
        (TaskSort::PriorityDesc, true) => query.order_by((
            (tasks::priority_rank + 0_i16).desc(),
            tasks::created_at.desc(),
            tasks::id.desc(),
        )),
    };
    query.offset(offset).limit(limit)
}

/// How many of the user's tasks match `filter`, and the page of them at `offset`, in the filter's
/// order (empty past the last page).
///
/// Unfiltered, the two statements are sent together on the one connection (diesel-async
/// pipelines futures polled at once), so the list costs one round trip. A filtered page's plan
/// depends on the count (see [`FEW_MATCHES`]), so the count goes first there.
pub async fn list_page(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    filter: &ListFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<(i64, Vec<TaskRow>)> {
    if !is_filtered(filter) {
        let conn: &AsyncPgConnection = conn;
        let count = filtered(user_id.0, filter)
            .count()
            .get_result::<i64>(&mut &*conn);
        let page = list_query(user_id.0, filter, offset, limit, false).load::<TaskRow>(&mut &*conn);
        return futures_util::try_join!(count, page);
    }
    let total = count_tasks(conn, user_id, filter).await?;
    if offset >= total {
        return Ok((total, Vec::new()));
    }
    let few = total <= FEW_MATCHES;
    let rows = list_query(user_id.0, filter, offset, limit, few)
        .load(conn)
        .await?;
    Ok((total, rows))
}

/// A stored idempotency key.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys)]
pub struct StoredKey {
    /// SHA-256 of the first request's body.
    pub request_hash: Vec<u8>,
    /// The first response's body.
    pub response: Option<serde_json::Value>,
}

/// Claims `(user_id, key)` for this request: true when the caller now owns it (it was new, or
/// expired and is replaced) and must create the task and store the response. False when a live
/// key exists; if another transaction is inserting the same key, this blocks until it ends, so
/// the caller then reads a committed response.
pub async fn claim_key(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    key: &str,
    request_hash: &[u8],
    ttl: Duration,
) -> QueryResult<bool> {
    use diesel::query_dsl::methods::FilterDsl;
    let expired = sql::<Bool>("idempotency_keys.created_at < now() - make_interval(secs => ")
        .bind::<Double, _>(ttl.as_secs_f64())
        .sql(")");
    let upsert = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::user_id.eq(user_id.0),
            idempotency_keys::key.eq(key),
            idempotency_keys::request_hash.eq(request_hash),
        ))
        .on_conflict((idempotency_keys::user_id, idempotency_keys::key))
        .do_update()
        .set((
            idempotency_keys::request_hash.eq(request_hash),
            idempotency_keys::task_id.eq(None::<Uuid>),
            idempotency_keys::response.eq(None::<serde_json::Value>),
            idempotency_keys::created_at.eq(now),
        ));
    // ON CONFLICT DO UPDATE ... WHERE: only an expired key is taken over.
    let claimed: Option<Uuid> = FilterDsl::filter(upsert, expired)
        .returning(idempotency_keys::user_id)
        .get_result(conn)
        .await
        .optional()?;
    Ok(claimed.is_some())
}

/// The stored key `(user_id, key)`.
pub async fn find_key(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    key: &str,
) -> QueryResult<Option<StoredKey>> {
    idempotency_keys::table
        .find((user_id.0, key))
        .select(StoredKey::as_select())
        .first(conn)
        .await
        .optional()
}

/// Records the task and the response a claimed key answers with from now on.
pub async fn complete_key(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    key: &str,
    task_id: TaskId,
    response: &serde_json::Value,
) -> QueryResult<()> {
    diesel::update(idempotency_keys::table.find((user_id.0, key)))
        .set((
            idempotency_keys::task_id.eq(task_id.0),
            idempotency_keys::response.eq(response),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes keys older than `ttl`; returns how many.
pub async fn delete_expired_keys(
    conn: &mut AsyncPgConnection,
    ttl: Duration,
) -> QueryResult<usize> {
    diesel::delete(
        idempotency_keys::table.filter(
            sql::<Bool>("created_at < now() - make_interval(secs => ")
                .bind::<Double, _>(ttl.as_secs_f64())
                .sql(")"),
        ),
    )
    .execute(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{TaskPriority, TaskStatus};

    fn sql_of(filter: &ListFilter) -> String {
        diesel::debug_query::<Pg, _>(&list_query(Uuid::nil(), filter, 20, 10, false)).to_string()
    }

    #[test]
    fn the_lookup_binds_the_id_the_user_and_the_limit_in_that_order() -> QueryResult<()> {
        // find_task binds these three values in this order to the SQL built here.
        let sql = tessera_app::db::sql_of(&find_task_query(Uuid::nil(), Uuid::nil()))?;
        assert!(
            sql.contains(r#"(("tasks"."id" = $1) AND ("tasks"."user_id" = $2))"#),
            "{sql}"
        );
        assert!(sql.ends_with(" LIMIT $3"), "{sql}");
        assert!(!sql.contains("$4"), "{sql}");
        Ok(())
    }

    #[test]
    fn a_patch_binds_its_columns_then_the_id_and_the_user_in_that_order() -> QueryResult<()> {
        // patch_task binds, for every shape, the named columns in field order, NULL for a
        // cleared completion, then the id and the user, to the SQL built here.
        let completions = [Completion::Keep, Completion::Stamp, Completion::Clear];
        for shape in 0..PATCH_SHAPES {
            let named = |i: usize| shape & (1 << i) != 0;
            let patch = TaskPatch {
                title: named(0).then_some("t"),
                description: named(1).then_some(Some("d")),
                status: named(2).then_some("PENDING"),
                priority: named(3).then_some("LOW"),
                due_date: named(4).then_some(None),
            };
            let completion = completions[shape / 32];
            assert_eq!(patch_shape(&patch, completion), shape);
            let query =
                patch_task_query(UserId(Uuid::nil()), TaskId(Uuid::nil()), &patch, completion);
            let sql = tessera_app::db::sql_of(&query)?;
            let mut bound: Vec<&str> = ["title", "description", "status", "priority", "due_date"]
                .into_iter()
                .enumerate()
                .filter(|(i, _)| named(*i))
                .map(|(_, column)| column)
                .collect();
            if completion == Completion::Clear {
                bound.push("completed_at");
            }
            for (n, column) in bound.iter().enumerate() {
                assert!(
                    sql.contains(&format!(r#""{column}" = ${}"#, n + 1)),
                    "{sql}"
                );
            }
            let (id, user) = (bound.len() + 1, bound.len() + 2);
            let filter = format!(r#"(("tasks"."id" = ${id}) AND ("tasks"."user_id" = ${user}))"#);
            assert!(sql.contains(&filter), "{sql}");
            assert!(!sql.contains(&format!("${}", user + 1)), "{sql}");
            assert!(sql.contains(r#""updated_at" = CURRENT_TIMESTAMP"#), "{sql}");
            let stamped = sql.contains(r#""completed_at" = CURRENT_TIMESTAMP"#);
            assert_eq!(stamped, completion == Completion::Stamp, "{sql}");
        }
        Ok(())
    }

    #[test]
    fn the_search_uses_the_indexed_expression_and_a_bound_pattern() {
        let filter = ListFilter {
            q: Some("50%_off".to_owned()),
            ..Default::default()
        };
        let sql = sql_of(&filter);
        assert!(
            sql.contains("lower(title || ' ' || coalesce(description, '')) LIKE lower($2)"),
            "{sql}"
        );
        assert!(
            sql.contains(r#""%50\\%\\_off%""#),
            "escaped pattern bound: {sql}"
        );
    }

    #[test]
    fn filters_use_the_columns_the_indexes_hold() {
        let filter = ListFilter {
            status: Some(TaskStatus::Completed),
            priority: Some(TaskPriority::High),
            ..Default::default()
        };
        let sql = sql_of(&filter);
        assert!(sql.contains(r#""tasks"."status" = $2"#), "{sql}");
        assert!(sql.contains(r#""tasks"."priority_rank" = $3"#), "{sql}");
    }

    #[test]
    fn only_terms_with_three_letters_in_a_row_use_the_trigram_index() {
        for (q, expected) in [
            ("abc", true),
            ("a report", true),
            ("#123", true),
            ("ab", false),
            ("a b c", false),
            ("%_", false),
            ("日本", false),
        ] {
            assert_eq!(has_trigram(q), expected, "{q}");
            let sql = sql_of(&ListFilter {
                q: Some(q.to_owned()),
                ..Default::default()
            });
            assert_eq!(sql.contains(" LIKE lower("), expected, "{q}: {sql}");
            assert_eq!(sql.contains("strpos("), !expected, "{q}: {sql}");
        }
    }

    #[test]
    fn few_matches_are_sorted_by_an_expression_no_index_provides() {
        for sort in TaskSort::ALL {
            let filter = ListFilter {
                sort,
                ..Default::default()
            };
            let sql = diesel::debug_query::<Pg, _>(&list_query(Uuid::nil(), &filter, 0, 10, true))
                .to_string();
            let order = sql.split(" ORDER BY ").nth(1).unwrap_or_default();
            assert!(order.starts_with('('), "{sort:?}: {order}");
            assert!(order.contains(" + $2)"), "{sort:?}: {order}");
        }
    }

    #[test]
    fn every_sort_ends_with_the_id() {
        for sort in TaskSort::ALL {
            let sql = sql_of(&ListFilter {
                sort,
                ..Default::default()
            });
            let order = sql
                .split(" ORDER BY ")
                .nth(1)
                .and_then(|rest| rest.split(" LIMIT ").next())
                .unwrap_or_default()
                .to_owned();
            assert!(order.contains(r#""tasks"."id""#), "{sort:?}: {order}");
            if matches!(sort, TaskSort::DueAsc | TaskSort::DueDesc) {
                assert!(order.contains("NULLS LAST"), "{sort:?}: {order}");
            }
        }
    }

    /// Writes the `GET /tasks` statements exactly as diesel renders them, as psql
    /// `PREPARE`/`EXPLAIN EXECUTE` pairs, for `bench/list_plans.sh` (which sets `TASK_BENCH_SQL`
    /// to the output file). The user ids and terms match what `bench/seed.sql` creates.
    // Runs with the other tests, so the benchmark's statements always match the queries the code
    // issues; `bench/list_plans.sh` sets `TASK_BENCH_SQL` to keep the file.
    #[test]
    fn write_bench_statements() {
        const BIG_USER: &str = "00000000-0000-4000-8000-000000000001";
        const SMALL_USER: &str = "00000000-0000-4000-8000-000000001007";
        #[derive(Clone, Copy)]
        enum Shape {
            Count,
            Page { offset: i64, few: bool },
        }
        let page = Shape::Page {
            offset: 0,
            few: false,
        };
        let few = Shape::Page {
            offset: 0,
            few: true,
        };
        let filter = |status, priority, q: Option<&str>, sort| ListFilter {
            status,
            priority,
            q: q.map(str::to_owned),
            sort,
        };
        let none = ListFilter::default();
        let mut shapes = vec![(
            "count, no filter".to_owned(),
            BIG_USER,
            none.clone(),
            Shape::Count,
        )];
        for sort in TaskSort::ALL {
            let name = format!("sort={}", sort.as_str());
            shapes.push((name, BIG_USER, filter(None, None, None, sort), page));
        }
        let by_date = TaskSort::CreatedDesc;
        let filtered_shapes = [
            (
                "status=COMPLETED",
                filter(Some(TaskStatus::Completed), None, None, by_date),
            ),
            (
                "priority=HIGH",
                filter(None, Some(TaskPriority::High), None, by_date),
            ),
            (
                "q=invoice (0.2% of tasks)",
                filter(None, None, Some("invoice"), by_date),
            ),
            (
                "q=report (10% of tasks)",
                filter(None, None, Some("report"), by_date),
            ),
            (
                "q=errand (3% of the other users tasks, only the 3 oldest of this user)",
                filter(None, None, Some("errand"), by_date),
            ),
            ("q=re (no trigram)", filter(None, None, Some("re"), by_date)),
            (
                "status=PENDING&priority=URGENT&q=report",
                filter(
                    Some(TaskStatus::Pending),
                    Some(TaskPriority::Urgent),
                    Some("report"),
                    by_date,
                ),
            ),
            (
                "status=PENDING&sort=dueDate",
                filter(Some(TaskStatus::Pending), None, None, TaskSort::DueAsc),
            ),
            (
                "priority=URGENT&sort=-dueDate",
                filter(None, Some(TaskPriority::Urgent), None, TaskSort::DueDesc),
            ),
        ];
        for (name, f) in filtered_shapes {
            shapes.push((format!("{name}, count"), BIG_USER, f.clone(), Shape::Count));
            shapes.push((
                format!("{name}, page in index order"),
                BIG_USER,
                f.clone(),
                page,
            ));
            shapes.push((
                format!("{name}, page sorted (total <= {FEW_MATCHES})"),
                BIG_USER,
                f,
                few,
            ));
        }
        let deep = Shape::Page {
            offset: 50_000,
            few: false,
        };
        shapes.push((
            "page 5001 of 10, default sort".to_owned(),
            BIG_USER,
            none.clone(),
            deep,
        ));
        shapes.push((
            "a user with 1,000 tasks, default sort".to_owned(),
            SMALL_USER,
            none.clone(),
            page,
        ));
        shapes.push((
            "a user with 1,000 tasks, count".to_owned(),
            SMALL_USER,
            none,
            Shape::Count,
        ));

        let mut out = String::from("-- Generated by store::tests::write_bench_statements.\n");
        for (i, (name, user, f, shape)) in shapes.into_iter().enumerate() {
            let user_id: Uuid = user.parse().unwrap_or_default();
            let sql = match shape {
                Shape::Count => {
                    diesel::debug_query::<Pg, _>(&filtered(user_id, &f).count()).to_string()
                }
                Shape::Page { offset, few } => {
                    diesel::debug_query::<Pg, _>(&list_query(user_id, &f, offset, 10, few))
                        .to_string()
                }
            };
            let sql = sql.split(" -- binds:").next().unwrap_or_default();
            // The binds in diesel's order, typed as diesel sends them.
            let mut types = vec!["uuid"];
            let mut args = vec![format!("'{user}'")];
            if let Some(s) = f.status {
                types.push("text");
                args.push(format!("'{}'", s.as_str()));
            }
            if let Some(p) = f.priority {
                types.push("smallint");
                args.push(p.rank().to_string());
            }
            if let Some(q) = &f.q {
                types.push("text");
                if has_trigram(q) {
                    args.push(format!("'%{}%'", tessera_app::pagination::like_escape(q)));
                } else {
                    args.push(format!("'{q}'"));
                }
            }
            if let Shape::Page { offset, few } = shape {
                if few {
                    let zero = match f.sort {
                        TaskSort::PriorityAsc | TaskSort::PriorityDesc => "smallint",
                        _ => "interval",
                    };
                    types.push(zero);
                    args.push(
                        if zero == "smallint" {
                            "0"
                        } else {
                            "'0 seconds'"
                        }
                        .to_owned(),
                    );
                }
                types.extend(["bigint", "bigint"]);
                args.extend(["10".to_owned(), offset.to_string()]);
            }
            out.push_str(&format!(
                "\\echo '== {name}'\nPREPARE s{i} ({}) AS {sql};\n\
                 EXPLAIN (ANALYZE, BUFFERS) EXECUTE s{i}({});\nDEALLOCATE s{i};\n\n",
                types.join(", "),
                args.join(", ")
            ));
        }
        // Every shape rendered as a statement with all its placeholders bound.
        let prepared = out.matches("PREPARE s").count();
        assert!(prepared > 20, "{prepared} statements");
        assert_eq!(
            prepared,
            out.matches("EXPLAIN (ANALYZE, BUFFERS) EXECUTE s").count()
        );
        assert!(
            out.contains("FROM \"tasks\""),
            "the statements query the tasks table"
        );
        if let Ok(path) = std::env::var("TASK_BENCH_SQL") {
            std::fs::write(&path, out).unwrap_or_else(|e| panic!("{path}: {e}"));
        }
    }
}
