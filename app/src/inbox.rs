//! The inbox of processed jobs: what makes at-least-once delivery change things once.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::platform_schema::processed_jobs;

/// Records that `consumer` processed job `job_id`. Returns `true` the first time and `false`
/// for a redelivery.
///
/// Call it in the same transaction as the job's effect and skip the effect on `false`: if the
/// transaction rolls back, the claim goes with it and the retry can try again.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    consumer: &str,
    job_id: Uuid,
) -> Result<bool, diesel::result::Error> {
    let inserted = diesel::insert_into(processed_jobs::table)
        .values((
            processed_jobs::consumer.eq(consumer),
            processed_jobs::job_id.eq(job_id),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}
