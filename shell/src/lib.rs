//! The thin binary: which modules this build carries, which ones a process mounts, and the
//! operator subcommands. Everything substantial lives in `tessera-app` and the domain crates.

use clap::{Parser, Subcommand};
use tessera_app::config::{Env, HttpSettings, LogFormat};
use tessera_app::module::Domain;
use tessera_app::queue::{Queue, QueueSettings, ReplaySelector};
use tessera_app::server;
use tessera_app::services::{self, SERVICES};
use tessera_app::trace::{TraceSettings, Tracer};
#[cfg(feature = "ui")]
use tessera_app::web_ui::{self, UiServer, UiSettings};

mod openapi;

pub use openapi::{INTERNAL_TAG, internal_openapi, openapi};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "shell",
    version,
    about = "Tessera: one binary, any subset of the services"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations of the mounted domains, then serve them.
    Serve {
        /// Modules to mount, comma-separated (default: every compiled-in module).
        #[arg(long, env = "SERVICES", value_delimiter = ',')]
        services: Vec<String>,
    },
    /// Apply pending migrations of the given domains and exit.
    Migrate {
        /// Domains to migrate (default: every compiled-in domain).
        #[arg(long, env = "SERVICES", value_delimiter = ',')]
        services: Vec<String>,
    },
    /// Print the table of services: name, kind, port, route prefixes, URL variable, database
    /// variable (tab-separated, a header line first, `-` for none; scripts read it).
    Services {
        /// Print it as a JSON array instead.
        #[arg(long)]
        json: bool,
    },
    /// Print the public OpenAPI document (what the gateway serves) as JSON.
    Openapi {
        /// Print the internal document instead: the service-to-service routes the gateway
        /// never routes.
        #[arg(long)]
        internal: bool,
    },
    /// User administration.
    Admin {
        /// The admin action.
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Inspect and replay dead-lettered jobs.
    Queue {
        /// The queue action.
        #[command(subcommand)]
        action: QueueAction,
    },
}

/// `shell admin ...`.
#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Make an existing user an ADMIN (effective from their next login or refresh).
    Promote {
        /// The user's e-mail address.
        email: String,
    },
}

/// `shell queue ...`.
#[derive(Debug, Subcommand)]
pub enum QueueAction {
    /// List dead-lettered jobs (one JSON object per line).
    Dead,
    /// Re-enqueue dead-lettered jobs.
    Replay {
        /// A dead-letter entry id or job id.
        id: Option<String>,
        /// Replay every dead-lettered job.
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

/// The domains compiled into this build, in mount order.
// One push per feature; which lints fire depends on the features, so `allow`, not `expect`.
#[allow(
    unused_mut,
    clippy::vec_init_then_push,
    reason = "the list depends on cargo features"
)]
pub fn compiled_domains() -> Vec<&'static Domain> {
    let mut domains: Vec<&'static Domain> = Vec::new();
    #[cfg(feature = "auth")]
    domains.push(&tessera_auth::DOMAIN);
    #[cfg(feature = "user")]
    domains.push(&tessera_user::DOMAIN);
    #[cfg(feature = "task")]
    domains.push(&tessera_task::DOMAIN);
    #[cfg(feature = "notification")]
    domains.push(&tessera_notification::DOMAIN);
    #[cfg(feature = "worker")]
    domains.push(&tessera_worker::DOMAIN);
    domains
}

/// What a process mounts: the gateway or not, which domains, and the web app or not.
#[derive(Clone)]
pub struct Selection {
    /// Whether the gateway module is mounted.
    pub gateway: bool,
    /// The domains, in mount order.
    pub domains: Vec<&'static Domain>,
    /// Whether the web app is served (on `UI_PORT`).
    pub ui: UiMount,
}

/// Whether a process serves the web app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiMount {
    /// Not selected or not compiled in.
    No,
    /// Mounted because everything compiled in is (no `--services`): served when the bundle is
    /// there or `UI_DIR` names it; otherwise skipped with a warning, so `just dev` and the tests
    /// run before `just ui-build` has.
    IfBuilt,
    /// Named in `--services`: the bundle must be there, or start fails naming `UI_DIR`.
    Yes,
}

/// Whether this build carries the gateway module.
pub const GATEWAY_COMPILED: bool = cfg!(feature = "gateway");

/// Whether this build carries the web app's static server (the `ui` module).
pub const UI_COMPILED: bool = cfg!(feature = "ui");

/// The committed OpenAPI document, served by the gateway at `/openapi.json`. A test keeps it
/// equal to what `shell openapi` generates, so a gateway built without any domain still serves
/// the whole API's document. Only a build with the gateway carries it.
#[cfg(feature = "gateway")]
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// The document the gateway serves, when this build has a gateway.
#[cfg(feature = "gateway")]
const GATEWAY_OPENAPI: Option<&str> = Some(OPENAPI_JSON);
#[cfg(not(feature = "gateway"))]
const GATEWAY_OPENAPI: Option<&str> = None;

/// Picks the modules `requested` names (every compiled-in one when empty), refusing unknown or
/// not-compiled names with a message that says which.
pub fn select(requested: &[String]) -> anyhow::Result<Selection> {
    let compiled = compiled_domains();
    let requested: Vec<String> = requested
        .iter()
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    if requested.is_empty() {
        return Ok(Selection {
            gateway: GATEWAY_COMPILED,
            domains: compiled,
            ui: if UI_COMPILED {
                UiMount::IfBuilt
            } else {
                UiMount::No
            },
        });
    }
    let mut picked = Selection {
        gateway: false,
        domains: Vec::new(),
        ui: UiMount::No,
    };
    let compiled_names = || {
        let mut names: Vec<&str> = compiled.iter().map(|d| d.name).collect();
        if GATEWAY_COMPILED {
            names.insert(0, "gateway");
        }
        if UI_COMPILED {
            names.push("ui");
        }
        names.join(", ")
    };
    for name in &requested {
        if services::find(name).is_none() {
            let known: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
            anyhow::bail!("unknown module `{name}` (known: {})", known.join(", "));
        }
        if name == "gateway" && GATEWAY_COMPILED {
            picked.gateway = true;
            continue;
        }
        if name == "ui" && UI_COMPILED {
            picked.ui = UiMount::Yes;
            continue;
        }
        match compiled.iter().find(|d| d.name == name) {
            Some(d) if !picked.domains.iter().any(|p| p.name == d.name) => picked.domains.push(*d),
            Some(_) => {}
            None => anyhow::bail!(
                "module `{name}` is not compiled into this binary (build with `--features {name}`; compiled: {})",
                compiled_names()
            ),
        }
    }
    Ok(picked)
}

/// The default API port for a process (DESIGN.md "Process interface", the table of services): a
/// single domain without the gateway gets its own port, anything else the gateway's.
pub fn default_port(selection: &Selection) -> u16 {
    let own = match (selection.gateway, selection.domains.as_slice()) {
        (false, [one]) => services::find(one.name),
        _ => None,
    };
    own.unwrap_or(&services::GATEWAY).port
}

/// The `service.name` of a process's spans unless `OTEL_SERVICE_NAME` says otherwise: the module
/// it runs when it runs one (`gateway`, `task`), else `tessera`.
pub fn service_name(selection: &Selection) -> &'static str {
    match (selection.gateway, selection.domains.as_slice()) {
        (true, []) => "gateway",
        (false, [one]) => one.name,
        _ if !selection.gateway && selection.domains.is_empty() && selection.ui != UiMount::No => {
            "ui"
        }
        _ => "tessera",
    }
}

fn log_format(env: &Env) -> LogFormat {
    env.parse_or("LOG_FORMAT", LogFormat::Json)
        .unwrap_or(LogFormat::Json)
}

/// Runs one command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let env = Env::from_process();
    match cli.command {
        Command::Services { json } => {
            if json {
                println!("{}", serde_json::to_string_pretty(SERVICES)?);
            } else {
                print!("{}", services::tsv());
            }
            Ok(())
        }
        Command::Openapi { internal } => {
            let domains = compiled_domains();
            let doc = if internal {
                internal_openapi(&domains)
            } else {
                openapi(&domains)
            };
            println!("{}", serde_json::to_string_pretty(&doc)?);
            Ok(())
        }
        Command::Migrate { services } => {
            tessera_app::telemetry::init_logging(log_format(&env));
            let selection = select(&services)?;
            server::migrate(&env, &selection.domains).await
        }
        Command::Serve { services } => {
            let selection = select(&services)?;
            // Spans get trace ids always; they are exported only when an OTLP endpoint is set.
            let traces = TraceSettings::from_env(&env, service_name(&selection))?;
            let tracer = Tracer::new(&traces)?;
            tessera_app::telemetry::init(log_format(&env), Some(tracer.tracer()));
            if let Some(endpoint) = &traces.endpoint {
                tracing::info!(
                    endpoint = %tessera_app::config::redact_url(endpoint),
                    service_name = %traces.service_name,
                    "exporting traces over OTLP/HTTP"
                );
            }
            // The web app first: a missing bundle or a bad API_GATEWAY_URL fails before any
            // migration runs.
            let ui = start_ui(&env, selection.ui).await?;
            // A process that mounts only the web app needs no API listener, Redis or secrets.
            let api_wanted = selection.gateway || !selection.domains.is_empty() || ui.is_none();
            let running = if api_wanted {
                let http = HttpSettings::from_env(&env, default_port(&selection))?;
                let platform = server::platform(env, selection.domains.len() == 1).await?;
                let mount = server::Mount {
                    domains: &selection.domains,
                    gateway: selection.gateway,
                    openapi: GATEWAY_OPENAPI,
                };
                Some(server::start(platform, mount, http, None).await?)
            } else {
                None
            };
            server::wait_for_signal().await;
            let stop_api = async {
                if let Some(r) = running {
                    r.shutdown().await;
                }
            };
            let stop_ui = async {
                if let Some(u) = ui {
                    u.shutdown().await;
                }
            };
            tokio::join!(stop_api, stop_ui);
            // Last: the spans of the requests and jobs that shutdown let finish.
            tracer.shutdown().await;
            Ok(())
        }
        Command::Admin {
            action: AdminAction::Promote { email },
        } => admin_promote(&env, &email).await,
        Command::Queue { action } => {
            let redis = env.redis()?;
            let client = tessera_app::redis::connect(&redis).await?;
            let queue = Queue::new(client, redis, QueueSettings::default(), None);
            match action {
                QueueAction::Dead => {
                    // The payload can hold personal data; the listing shows what identifies a job.
                    for dead in queue.list_dead().await? {
                        let line = serde_json::json!({
                            "entryId": dead.entry_id,
                            "topic": dead.topic,
                            "group": dead.group,
                            "jobId": dead.job.as_ref().map(|j| j.id.to_string()),
                            "requestId": dead.job.as_ref().and_then(|j| j.request_id.clone()),
                            "attempts": dead.attempts,
                            "error": dead.error,
                            "failedAt": tessera_app::contracts::time::format(&dead.failed_at),
                        });
                        println!("{line}");
                    }
                    Ok(())
                }
                QueueAction::Replay { id, all } => {
                    let selector = match (id, all) {
                        (_, true) => ReplaySelector::All,
                        (Some(id), false) => ReplaySelector::One(id),
                        (None, false) => anyhow::bail!("name a job id or pass --all"),
                    };
                    let n = queue.replay(selector).await?;
                    println!("replayed {n} job(s)");
                    Ok(())
                }
            }
        }
    }
}

/// Starts the web app's listener when this process serves it (see [`UiMount`]).
#[cfg(feature = "ui")]
async fn start_ui(env: &Env, mount: UiMount) -> anyhow::Result<Option<UiServer>> {
    match ui_settings(env, mount)? {
        Some(settings) => Ok(Some(web_ui::start(&settings, None).await?)),
        None => Ok(None),
    }
}

/// A build without the web app never serves it ([`UiMount::No`] is all `select` picks).
#[cfg(not(feature = "ui"))]
async fn start_ui(_env: &Env, _mount: UiMount) -> anyhow::Result<Option<NoUi>> {
    Ok(None)
}

/// The web app listener a build without the `ui` feature cannot have.
#[cfg(not(feature = "ui"))]
enum NoUi {}

#[cfg(not(feature = "ui"))]
impl NoUi {
    async fn shutdown(self) {
        match self {}
    }
}

/// The web app listener's settings when this process serves it (see [`UiMount`]).
#[cfg(feature = "ui")]
fn ui_settings(env: &Env, mount: UiMount) -> anyhow::Result<Option<UiSettings>> {
    if mount == UiMount::No {
        return Ok(None);
    }
    let settings = UiSettings::from_env(env)?;
    if mount == UiMount::IfBuilt && !settings.dir_set && !settings.bundle_present() {
        tracing::warn!(
            dir = %settings.dir.display(),
            "no web app bundle (build it with `just ui-build`, or set UI_DIR): not serving the web app"
        );
        return Ok(None);
    }
    Ok(Some(settings))
}

#[cfg(feature = "auth")]
async fn admin_promote(env: &Env, email: &str) -> anyhow::Result<()> {
    let url = env.database_url("auth", true)?;
    let pool = tessera_app::db::build_pool(&url, &Default::default());
    if tessera_auth::promote(&pool, email).await? {
        println!("promoted to ADMIN; effective from the user's next login or refresh");
        Ok(())
    } else {
        anyhow::bail!("no live account has that e-mail address")
    }
}

#[cfg(not(feature = "auth"))]
async fn admin_promote(_env: &Env, _email: &str) -> anyhow::Result<()> {
    anyhow::bail!("this binary was built without the auth module")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_modules_are_refused_by_name() {
        let err = select(&["bogus".to_owned()])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown module `bogus`"), "{err}");
    }

    #[test]
    fn an_empty_selection_mounts_everything_compiled_in() {
        let all = select(&[]).map(|s| s.domains.len()).unwrap_or(usize::MAX);
        assert_eq!(all, compiled_domains().len());
    }

    #[test]
    fn every_module_of_the_table_is_a_feature_and_every_domain_feature_is_in_the_table() {
        let manifest = include_str!("../Cargo.toml");
        let features: std::collections::BTreeSet<&str> = manifest
            .split_once("[features]")
            .and_then(|(_, rest)| rest.split_once("\n["))
            .map(|(section, _)| section)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(" = ").map(|(name, _)| name.trim()))
            .filter(|name| *name != "default")
            .collect();
        let names: std::collections::BTreeSet<&str> = SERVICES.iter().map(|s| s.name).collect();
        assert_eq!(
            features, names,
            "shell's features against the table of services"
        );
        for d in compiled_domains() {
            assert_eq!(
                services::find(d.name).map(|s| s.kind),
                Some(services::Kind::Domain),
                "{}",
                d.name
            );
        }
    }

    #[test]
    fn a_single_domain_gets_its_own_port() {
        let auth: Vec<&Domain> = compiled_domains()
            .into_iter()
            .filter(|d| d.name == "auth")
            .collect();
        let mut selection = Selection {
            gateway: false,
            domains: auth,
            ui: UiMount::No,
        };
        if !selection.domains.is_empty() {
            assert_eq!(default_port(&selection), 4001);
        }
        selection.gateway = true;
        assert_eq!(default_port(&selection), 4000);
    }
}
