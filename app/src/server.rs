//! Assembling and running a process: the platform, the mounted modules, the HTTP server, the
//! consumers and background tasks, and graceful shutdown.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "gateway")]
use actix_governor::Governor;
#[cfg(feature = "gateway")]
use actix_web::middleware::Condition;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Env, HttpSettings, TokenSettings};
use crate::db::{PoolSettings, platform_migrations, run_migrations};
use crate::error::{ApiError, json_config, path_config, query_config};
#[cfg(feature = "gateway")]
use crate::gateway::{self, Gateway};
use crate::health::{self, Operational, ServiceInfo};
use crate::module::{Domain, Module, Platform, ReadyCheck};
use crate::queue::{Queue, QueueMetrics, QueueSettings, SHUTDOWN_SETTLE_MARGIN};
use crate::telemetry::{Metrics, telemetry};
use crate::tokens::Tokens;

/// Builds the shared platform from the environment. Fails fast naming a bad variable.
pub async fn platform(env: Env, single_domain: bool) -> anyhow::Result<Platform> {
    let token_settings = TokenSettings::from_env(&env)?;
    let redis_settings = env.redis()?;
    let redis = crate::redis::connect(&redis_settings).await?;
    let metrics = Metrics::new()?;
    let queue_metrics = QueueMetrics::new(&metrics.registry)?;
    let queue = Queue::new(
        redis.clone(),
        redis_settings.clone(),
        queue_settings(&env)?,
        Some(queue_metrics),
    );
    let pool_settings = PoolSettings {
        max_size: env.parse_or("DB_POOL_SIZE", 10)?,
        workers: u32::try_from(crate::config::http_workers(&env)?).unwrap_or(u32::MAX),
        acquire_timeout: env.duration_or("DB_ACQUIRE_TIMEOUT", Duration::from_secs(3))?,
    };
    Ok(Platform {
        env: Arc::new(env),
        tokens: Tokens::new(&token_settings),
        redis_settings,
        redis,
        queue,
        metrics,
        pool_settings,
        single_domain,
        local: Arc::default(),
    })
}

/// Queue tuning from `QUEUE_*` variables (defaults in [`QueueSettings::default`]).
pub fn queue_settings(env: &Env) -> Result<QueueSettings, crate::config::ConfigError> {
    let d = QueueSettings::default();
    Ok(QueueSettings {
        max_attempts: env.parse_or("QUEUE_MAX_ATTEMPTS", d.max_attempts)?,
        base_backoff: env.duration_or("QUEUE_BASE_BACKOFF", d.base_backoff)?,
        max_backoff: env.duration_or("QUEUE_MAX_BACKOFF", d.max_backoff)?,
        max_outage_backoff: env.duration_or("QUEUE_MAX_OUTAGE_BACKOFF", d.max_outage_backoff)?,
        max_deferrals: env.parse_or("QUEUE_MAX_DEFERRALS", d.max_deferrals)?,
        visibility_timeout: env.duration_or("QUEUE_VISIBILITY_TIMEOUT", d.visibility_timeout)?,
        concurrency: env.parse_or("QUEUE_CONCURRENCY", d.concurrency)?,
        handler_timeout: env.duration_or("QUEUE_HANDLER_TIMEOUT", d.handler_timeout)?,
        stream_max_len: env.parse_or("QUEUE_STREAM_MAX_LEN", d.stream_max_len)?,
        ..d
    })
}

/// Refuses a shutdown budget that cannot hold a running job: on SIGTERM the consumers wait up to
/// `QUEUE_HANDLER_TIMEOUT` plus [`SHUTDOWN_SETTLE_MARGIN`] for their jobs, and the process stops
/// everything after `SHUTDOWN_TIMEOUT`. A job cut off in between is redelivered, and what it had
/// done (an e-mail sent) happens again. Only checked when the process runs consumers.
pub fn check_shutdown_budget(
    shutdown_timeout: Duration,
    handler_timeout: Duration,
) -> Result<(), crate::config::ConfigError> {
    let needed = handler_timeout + SHUTDOWN_SETTLE_MARGIN;
    if shutdown_timeout < needed {
        return Err(crate::config::ConfigError::Invalid {
            name: "SHUTDOWN_TIMEOUT".to_owned(),
            reason: format!(
                "{} ms is shorter than QUEUE_HANDLER_TIMEOUT ({} ms) plus {} ms to record the \
                 outcome: a job running at shutdown would be cut off and run again; raise \
                 SHUTDOWN_TIMEOUT to at least {} ms or lower QUEUE_HANDLER_TIMEOUT",
                shutdown_timeout.as_millis(),
                handler_timeout.as_millis(),
                SHUTDOWN_SETTLE_MARGIN.as_millis(),
                needed.as_millis(),
            ),
        });
    }
    Ok(())
}

/// Applies the platform's and each domain's pending migrations to the domain's database.
pub async fn migrate(env: &Env, domains: &[&Domain]) -> anyhow::Result<()> {
    let single = domains.iter().filter(|d| d.migrations.is_some()).count() == 1;
    // The databases are independent: migrating them at once keeps start-up at the slowest one.
    let runs = domains.iter().filter_map(|domain| {
        let own = domain.migrations?;
        Some(async move {
            let url = env.database_url(domain.name, single)?;
            let applied = run_migrations(&url, &[platform_migrations, own]).await?;
            tracing::info!(domain = domain.name, applied, "migrations applied");
            anyhow::Ok(())
        })
    });
    futures_util::future::try_join_all(runs).await?;
    Ok(())
}

/// A running process; [`Running::shutdown`] stops it gracefully.
pub struct Running {
    /// The address the HTTP listener is bound to (port 0 resolved).
    pub addr: SocketAddr,
    server: actix_web::dev::ServerHandle,
    server_task: tokio::task::JoinHandle<std::io::Result<()>>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    grace: Duration,
}

impl Running {
    /// Stops accepting, lets in-flight requests and the current jobs finish (bounded by the
    /// shutdown timeout), then stops the background tasks.
    pub async fn shutdown(mut self) {
        tracing::info!("shutting down");
        // Stop taking new jobs and wake the relays at the same time as the listener stops.
        self.shutdown.cancel();
        let stop = self.server.stop(true);
        let drain = async {
            stop.await;
            while self.tasks.join_next().await.is_some() {}
        };
        if tokio::time::timeout(self.grace, drain).await.is_err() {
            tracing::warn!(
                grace_ms = self.grace.as_millis() as u64,
                "shutdown timed out; aborting what is left"
            );
            self.tasks.abort_all();
        }
        let _ = self.server_task.await;
        tracing::info!("stopped");
    }

    /// Resolves when the HTTP server stops on its own (it should not).
    pub fn is_finished(&self) -> bool {
        self.server_task.is_finished()
    }
}

/// What one process mounts.
#[derive(Clone, Copy)]
pub struct Mount<'a> {
    /// The domains served in this process.
    pub domains: &'a [&'a Domain],
    /// Whether the gateway module stands in front of them (and proxies to the domains that are
    /// not mounted here). Only a build with the `gateway` feature can start such a mount.
    pub gateway: bool,
    /// The OpenAPI document the gateway serves at `/openapi.json` (with Swagger UI at `/docs`).
    pub openapi: Option<&'static str>,
}

impl<'a> Mount<'a> {
    /// `domains` served directly, as a split service process does.
    pub fn direct(domains: &'a [&'a Domain]) -> Self {
        Self {
            domains,
            gateway: false,
            openapi: None,
        }
    }

    /// `domains` behind the gateway.
    pub fn behind_gateway(domains: &'a [&'a Domain], openapi: Option<&'static str>) -> Self {
        Self {
            domains,
            gateway: true,
            openapi,
        }
    }
}

/// Builds the modules of `mount`, migrates their databases, and starts serving them.
///
/// `listener` lets tests bind port 0 first; otherwise `HOST`/`PORT` decide.
pub async fn start(
    platform: Platform,
    mount: Mount<'_>,
    http: HttpSettings,
    listener: Option<TcpListener>,
) -> anyhow::Result<Running> {
    #[cfg(not(feature = "gateway"))]
    if mount.gateway {
        anyhow::bail!("this build has no gateway (the `gateway` feature of tessera-app is off)");
    }
    let domains = mount.domains;
    migrate(&platform.env, domains).await?;

    // Built at once, in the order of `domains`: each waits on its own connections only.
    let modules: Vec<Arc<dyn Module>> = futures_util::future::try_join_all(
        domains
            .iter()
            .map(|domain| (domain.build)(platform.clone())),
    )
    .await?;
    #[cfg(feature = "gateway")]
    let gateway = match mount.gateway {
        true => {
            let local: Vec<&str> = domains.iter().map(|d| d.name).collect();
            Some(Arc::new(Gateway::build(&platform, &local, mount.openapi)?))
        }
        false => None,
    };

    // A gateway alone uses no Redis; everything else does.
    let mut checks = Vec::new();
    if !domains.is_empty() {
        checks.push(ReadyCheck::redis(platform.redis.clone()));
    }
    #[cfg(feature = "gateway")]
    if let Some(g) = &gateway {
        checks.extend(g.ready_checks());
    }
    let mut pools = Vec::new();
    let mut subscriptions = Vec::new();
    for m in &modules {
        checks.extend(crate::module::ready_checks(m.as_ref()));
        if let Some(db) = m.database() {
            pools.push((db.domain(), db.pool().clone()));
        }
        subscriptions.extend(m.subscriptions());
    }
    let mut names: Vec<&str> = domains.iter().map(|d| d.name).collect();
    if mount.gateway {
        names.insert(0, "gateway");
    }
    let info = ServiceInfo {
        service: if names.is_empty() {
            "tessera".to_owned()
        } else {
            names.join("+")
        },
        version: env!("CARGO_PKG_VERSION"),
    };
    let operational = Operational {
        info,
        checks: Arc::new(checks),
        pools: Arc::new(pools),
        queue: Some(platform.queue.clone()),
    };

    if !subscriptions.is_empty() {
        check_shutdown_budget(
            http.shutdown_timeout,
            platform.queue.settings().handler_timeout,
        )?;
    }
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    if !subscriptions.is_empty() {
        let consumer = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let queue = platform.queue.clone();
        let token = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = queue.consume(subscriptions, consumer, token).await {
                tracing::error!(error = format!("{e:#}"), "job consumer stopped");
            }
        });
    }
    for m in &modules {
        if let Some(relay) = m.database().and_then(|db| db.relay()) {
            tasks.spawn(relay.run(shutdown.clone()));
        }
        for task in m.background(shutdown.clone()) {
            tasks.spawn(task);
        }
    }
    #[cfg(feature = "gateway")]
    if let Some(g) = &gateway {
        tasks.spawn(g.housekeeping(shutdown.clone()));
    }

    // In a build with the gateway, its layers are always in the stack and switched on when it is
    // mounted, so one App type serves both shapes. Unused limiters cost one empty map each.
    #[cfg(feature = "gateway")]
    let edge_state = gateway.as_ref().map(|g| g.edge_state()).unwrap_or_default();
    #[cfg(feature = "gateway")]
    let (general, strict) = match &gateway {
        Some(g) => (g.general_limit(), g.strict_limit()),
        None => (
            gateway::limit::config(gateway::limit::Scope::General, 1, Arc::default())?,
            gateway::limit::config(gateway::limit::Scope::Strict, 1, Arc::default())?,
        ),
    };
    #[cfg(feature = "gateway")]
    let gateway_on = gateway.is_some();

    let tokens = web::Data::new(platform.tokens.clone());
    let metrics = web::Data::new(platform.metrics.clone());
    let body_limit = http.body_limit;
    let app_modules = modules.clone();
    let server = HttpServer::new(move || {
        // Runs on each worker thread as it starts: its requests get connections of its own.
        crate::db::serve_from_this_thread();
        let modules = app_modules.clone();
        let operational = operational.clone();
        #[cfg(feature = "gateway")]
        let gateway = gateway.clone();
        let app = App::new()
            .app_data(tokens.clone())
            .app_data(metrics.clone())
            .app_data(json_config(body_limit))
            .app_data(query_config())
            .app_data(path_config())
            .app_data(web::PayloadConfig::new(body_limit));
        // Outermost last: telemetry, CORS, the general then the strict limit, the guard.
        #[cfg(feature = "gateway")]
        let app = app
            .app_data(edge_state.clone())
            .wrap(Condition::new(gateway_on, from_fn(gateway::guard)))
            .wrap(Condition::new(gateway_on, Governor::new(&strict)))
            .wrap(Condition::new(gateway_on, Governor::new(&general)))
            .wrap(Condition::new(gateway_on, from_fn(gateway::edge)));
        app.wrap(from_fn(telemetry))
            .configure(move |cfg| {
                health::configure(cfg, operational);
                for m in &modules {
                    m.configure(cfg);
                }
                #[cfg(feature = "gateway")]
                if let Some(g) = &gateway {
                    g.configure(cfg);
                }
            })
            .default_service(web::to(not_found))
    })
    .workers(http.workers)
    .shutdown_timeout(http.shutdown_timeout.as_secs())
    // We own signal handling so that consumers and relays stop together with the listener.
    .disable_signals();

    let server = match listener {
        Some(l) => server.listen(l)?,
        None => server.bind((http.host.as_str(), http.port))?,
    };
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("no listener address"))?;
    let server = server.run();
    let handle = server.handle();
    let server_task = tokio::spawn(server);
    tracing::info!(%addr, modules = ?names, "listening");
    Ok(Running {
        addr,
        server: handle,
        server_task,
        shutdown,
        tasks,
        grace: http.shutdown_timeout,
    })
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound("no route matches this path".to_owned()))
}

/// Waits for SIGTERM or Ctrl-C.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_tuning_is_read_from_its_variables() {
        let settings = queue_settings(&Env::from_pairs([
            ("QUEUE_STREAM_MAX_LEN", "50"),
            ("QUEUE_CONCURRENCY", "3"),
        ]))
        .map_err(|e| e.to_string());
        let settings = settings.as_ref().map(|s| (s.stream_max_len, s.concurrency));
        assert_eq!(settings, Ok((50, 3)));
        let defaults = queue_settings(&Env::from_pairs(Vec::<(String, String)>::new()))
            .map(|s| s.stream_max_len)
            .map_err(|e| e.to_string());
        assert_eq!(defaults, Ok(QueueSettings::default().stream_max_len));
    }

    #[test]
    fn a_shutdown_budget_shorter_than_a_job_is_refused_naming_both_variables() {
        let err = check_shutdown_budget(Duration::from_secs(10), Duration::from_secs(30))
            .map(|()| "accepted".to_owned())
            .unwrap_or_else(|e| e.to_string());
        assert!(err.starts_with("SHUTDOWN_TIMEOUT is invalid"), "{err}");
        assert!(err.contains("QUEUE_HANDLER_TIMEOUT"), "{err}");
        // The margin to record the outcome counts too.
        assert!(check_shutdown_budget(Duration::from_secs(20), Duration::from_secs(20)).is_err());
    }

    #[test]
    fn the_default_budget_holds_a_job_at_the_default_handler_timeout() {
        let handler = QueueSettings::default().handler_timeout;
        assert!(check_shutdown_budget(crate::config::DEFAULT_SHUTDOWN_TIMEOUT, handler).is_ok());
        assert!(check_shutdown_budget(handler + SHUTDOWN_SETTLE_MARGIN, handler).is_ok());
    }
}
