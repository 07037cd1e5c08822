//! `/health`, `/ready` and `/metrics`, mounted by every process.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;
use tessera_contracts::problem::FieldError;

use crate::db::DbPool;
use crate::error::ApiError;
use crate::module::{ReadyCheck, run_checks};
use crate::queue::Queue;
use crate::telemetry::Metrics;

/// What `/health` reports about this process.
#[derive(Debug, Clone)]
pub struct ServiceInfo {
    /// The mounted modules, joined with `+` (`auth+user`), or `tessera` for all of them.
    pub service: String,
    /// The crate version.
    pub version: &'static str,
}

/// The shared state of the operational routes.
#[derive(Clone)]
pub struct Operational {
    /// Name and version.
    pub info: ServiceInfo,
    /// Every readiness check of the mounted modules.
    pub checks: Arc<Vec<ReadyCheck>>,
    /// Every pool, for the gauges.
    pub pools: Arc<Vec<(&'static str, DbPool)>>,
    /// The queue, for its gauges.
    pub queue: Option<Queue>,
}

/// Adds the operational routes.
pub fn configure(cfg: &mut web::ServiceConfig, state: Operational) {
    // Resources (not bare routes) so a wrong method answers 405 with `Allow`, as elsewhere.
    cfg.app_data(web::Data::new(state))
        .service(web::resource("/health").get(health))
        .service(web::resource("/ready").get(ready))
        .service(web::resource("/metrics").get(metrics));
}

async fn health(state: web::Data<Operational>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "status": "ok",
        "service": state.info.service,
        "version": state.info.version,
    }))
}

async fn ready(state: web::Data<Operational>) -> Result<HttpResponse, ApiError> {
    let results = run_checks(&state.checks, Duration::from_secs(2)).await;
    let failed: Vec<FieldError> = results
        .iter()
        .filter_map(|(name, r)| {
            r.as_ref().err().map(|e| FieldError {
                field: name.clone(),
                message: e.clone(),
            })
        })
        .collect();
    if failed.is_empty() {
        let checks: serde_json::Map<String, serde_json::Value> = results
            .into_iter()
            .map(|(name, _)| (name, json!("ok")))
            .collect();
        return Ok(HttpResponse::Ok().json(json!({"status": "ready", "checks": checks})));
    }
    for f in &failed {
        tracing::warn!(check = %f.field, reason = %f.message, "readiness check failed");
    }
    let names: Vec<&str> = failed.iter().map(|f| f.field.as_str()).collect();
    // The failing checks are named; their raw reasons stay in the log.
    Err(ApiError::Unavailable {
        detail: format!("not ready: {} failed", names.join(", ")),
        retry_after: Some(5),
    })
}

async fn metrics(state: web::Data<Operational>, metrics: web::Data<Metrics>) -> HttpResponse {
    for (domain, pool) in state.pools.iter() {
        let s = pool.state();
        let idle = i64::from(s.idle);
        let total = i64::from(s.connections);
        metrics
            .db_pool
            .with_label_values(&[domain, "idle"])
            .set(idle);
        metrics
            .db_pool
            .with_label_values(&[domain, "in_use"])
            .set(total - idle);
    }
    if let Some(queue) = &state.queue {
        // Bounded, so a scrape during a Redis outage still answers (with the last values).
        match tokio::time::timeout(QUEUE_GAUGES_TIMEOUT, queue.refresh_gauges()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(error = %format!("{err:#}"), "queue gauges not refreshed");
            }
            Err(_) => tracing::warn!(
                timeout_ms = QUEUE_GAUGES_TIMEOUT.as_millis() as u64,
                "queue gauges not refreshed in time"
            ),
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}

/// How long a scrape waits for the queue's gauges (pending, lag, delayed, dead) from Redis.
const QUEUE_GAUGES_TIMEOUT: Duration = Duration::from_secs(2);
