//! Every environment variable Tessera reads, declared once: its name, default, whether it is a
//! secret, which modules read it, and what it does.
//!
//! The rest follows from this table: [`crate::config::Env`] refuses (in debug and test builds)
//! to read a variable that is not declared here, `.env.example` is generated from it
//! ([`env_example`]; a test fails when the committed file differs, `just env-example` rewrites
//! it), and `shell/tests/suite/compose.rs` checks the compose files against it. Adding a variable is
//! one entry here, then `just env-example`.

use crate::services::{AUTH, GATEWAY, NOTIFICATION, TASK, UI, USER, WORKER};

// The module lists below are the table of services' (`crate::services`), spelled as consts
// because a `Variable` is built at compile time; a test checks they match the table.

/// Every module, process-level settings included (the listener, logging, shutdown).
const ALL: &[&str] = &[
    GATEWAY.name,
    AUTH.name,
    USER.name,
    TASK.name,
    NOTIFICATION.name,
    WORKER.name,
    UI.name,
];
/// Every module that serves the API (all but the web app's `ui`).
const API: &[&str] = &[
    GATEWAY.name,
    AUTH.name,
    USER.name,
    TASK.name,
    NOTIFICATION.name,
    WORKER.name,
];
/// The domains with a database of their own.
const DATABASES: &[&str] = &[AUTH.name, USER.name, TASK.name, NOTIFICATION.name];

/// One environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// The name, e.g. `SMTP_HOST`.
    pub name: &'static str,
    /// The value the code uses when it is unset, as `.env.example` spells it; `None` when unset
    /// means "off", "required" or "computed" (the description says which).
    pub default: Option<&'static str>,
    /// A local value `.env.example` shows where there is no default (database URLs).
    pub example: Option<&'static str>,
    /// A secret: no default anywhere, never logged, taken from the environment in compose.
    pub secret: bool,
    /// The modules (`SERVICES` names) whose process reads it.
    pub read_by: &'static [&'static str],
    /// What it does, for `.env.example`.
    pub doc: &'static str,
}

impl Variable {
    const fn defaults_to(self, value: &'static str) -> Self {
        Self {
            default: Some(value),
            ..self
        }
    }

    const fn example(self, value: &'static str) -> Self {
        Self {
            example: Some(value),
            ..self
        }
    }

    const fn secret(self) -> Self {
        Self {
            secret: true,
            ..self
        }
    }

    const fn doc(self, doc: &'static str) -> Self {
        Self { doc, ..self }
    }

    /// Whether `module`'s process reads this variable.
    pub fn read_by(&self, module: &str) -> bool {
        self.read_by.contains(&module)
    }
}

const fn var(name: &'static str, read_by: &'static [&'static str]) -> Variable {
    Variable {
        name,
        default: None,
        example: None,
        secret: false,
        read_by,
        doc: "",
    }
}

/// A group of variables, a heading in `.env.example`.
#[derive(Debug)]
pub struct Section {
    /// The heading.
    pub title: &'static str,
    /// Its variables, in `.env.example`'s order.
    pub vars: &'static [Variable],
}

/// The declaration.
pub const SECTIONS: &[Section] = &[
    Section {
        title: "Secrets (no defaults: the process refuses to start without them)",
        vars: &[
            var("JWT_SECRET", API)
                .secret()
                .doc("Signs user access tokens. At least 32 characters."),
            var("INTERNAL_JWT_SECRET", API)
                .secret()
                .doc("Signs service tokens between processes. At least 32 characters, different from \
                 JWT_SECRET."),
        ],
    },
    Section {
        title: "Process",
        vars: &[
            var("SERVICES", ALL)
                .doc("Modules to mount, comma-separated (default: every compiled-in module). Names: \
                 gateway auth user task notification worker ui"),
            var("HOST", ALL)
                .defaults_to("0.0.0.0")
                .doc("The address the listeners bind."),
            var("PORT", API)
                .defaults_to("4000")
                .doc("Default: 4000 for the gateway, several modules or the whole platform; alone: \
                 4001 auth, 4002 user, 4003 task, 4004 notification, 4005 worker (health and \
                 metrics only)."),
            var("UI_PORT", &["ui"])
                .defaults_to("3000")
                .doc("The web app's listener (the ui module; HOST as above)."),
            var("UI_DIR", &["ui"])
                .defaults_to("ui/dist")
                .doc("The web app's release bundle (`just ui-build` writes ui/dist; the Docker image \
                 has it in /usr/local/share/tessera/ui). Must hold index.html: a process serving \
                 the web app refuses to start otherwise. Left unset and missing, `shell serve` \
                 without SERVICES skips the web app."),
            var("LOG_FORMAT", ALL)
                .defaults_to("json")
                .doc("json (default) or pretty; filter with RUST_LOG (default info)."),
            var("RUST_LOG", ALL)
                .defaults_to("info")
                .doc("The log filter (tracing-subscriber's EnvFilter syntax)."),
            var("OTEL_EXPORTER_OTLP_ENDPOINT", ALL)
                .doc("Traces (ARCHITECTURE.md \"Traces\"): the OTLP/HTTP collector's base URL \
                 (/v1/traces is appended, e.g. http://otel-collector:4318). Spans are exported \
                 only when this or the next is set; unset, no exporter is built. Log lines carry \
                 trace_id either way."),
            var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ALL)
                .doc("The full traces URL; wins over OTEL_EXPORTER_OTLP_ENDPOINT."),
            var("OTEL_SERVICE_NAME", ALL)
                .doc("service.name of the spans (default: the module the process runs, e.g. task; \
                 tessera for a process running several). The SDK also honours the standard \
                 OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_* and OTEL_EXPORTER_OTLP_HEADERS."),
            var("OTEL_EXPORTER_OTLP_TIMEOUT", ALL)
                .defaults_to("10000")
                .doc("How long one export call may take, in milliseconds."),
            var("HTTP_WORKERS", ALL)
                .doc("HTTP worker threads (default: the number of cores)."),
            var("BODY_LIMIT_BYTES", API)
                .defaults_to("65536")
                .doc("Largest accepted request body in bytes (64 KiB)."),
            var("SHUTDOWN_TIMEOUT", ALL)
                .defaults_to("30s")
                .doc("How long SIGTERM waits for in-flight requests and jobs. A process with queue \
                 consumers refuses to start when it is shorter than QUEUE_HANDLER_TIMEOUT + 1 s \
                 (a job cut off would run twice); the container's stop grace period must be \
                 longer still. The web app's listener defaults to 10s."),
        ],
    },
    Section {
        title: "Tokens",
        vars: &[
            var("JWT_EXPIRES_IN", API)
                .defaults_to("15m")
                .doc("How long an access token is valid."),
            var("REFRESH_TOKEN_EXPIRES_IN", API)
                .defaults_to("7d")
                .doc("How long a refresh token is valid."),
            var("REFRESH_FAMILY_MAX_AGE", &["auth"])
                .defaults_to("30d")
                .doc("The longest a login session lasts however often it is refreshed: its refresh \
                 tokens stop working this long after the login, and the user logs in again."),
            var("PASSWORD_RESET_EXPIRES_IN", &["auth"])
                .defaults_to("30m")
                .doc("How long a password-reset link is valid."),
        ],
    },
    Section {
        title: "Databases (one per domain; a process mounting one domain may use plain \
                 DATABASE_URL)",
        vars: &[
            var("AUTH_DATABASE_URL", &["auth"])
                .example("postgres://postgres@127.0.0.1:5432/tessera_auth")
                .doc("The auth domain's database."),
            var("USER_DATABASE_URL", &["user"])
                .example("postgres://postgres@127.0.0.1:5432/tessera_user")
                .doc("The user domain's database."),
            var("TASK_DATABASE_URL", &["task"])
                .example("postgres://postgres@127.0.0.1:5432/tessera_task")
                .doc("The task domain's database."),
            var("NOTIFICATION_DATABASE_URL", &["notification"])
                .example("postgres://postgres@127.0.0.1:5432/tessera_notification")
                .doc("The notification domain's database."),
            var("DATABASE_URL", DATABASES)
                .doc("The database of a process that mounts one domain only (its <DOMAIN>_DATABASE_URL \
                 wins)."),
            var("DB_POOL_SIZE", DATABASES)
                .defaults_to("10")
                .doc("Connections per domain database for requests, split among the HTTP workers (each \
                 has its own pool); work off the workers (outbox relay, jobs) may open as many \
                 more."),
            var("DB_ACQUIRE_TIMEOUT", DATABASES)
                .defaults_to("3s")
                .doc("How long a request waits for a pooled connection before answering 503."),
        ],
    },
    Section {
        title: "Redis (REDIS_URL wins over host/port and may name a database: \
                 redis://host:6379/2)",
        vars: &[
            var("REDIS_URL", API)
                .doc("The Redis server; wins over REDIS_HOST and REDIS_PORT."),
            var("REDIS_HOST", API)
                .defaults_to("127.0.0.1")
                .doc("The Redis host when REDIS_URL is unset."),
            var("REDIS_PORT", API)
                .defaults_to("6379")
                .doc("The Redis port when REDIS_URL is unset."),
            var("REDIS_PREFIX", API)
                .defaults_to("tessera")
                .doc("Every key starts with this prefix."),
        ],
    },
    Section {
        title: "Job queue",
        vars: &[
            var("QUEUE_MAX_ATTEMPTS", API)
                .defaults_to("5")
                .doc("Attempts before a failing job is dead-lettered. A dependency that is unavailable \
                 (connection refused, 503, a timed-out call or database pool) defers the job \
                 instead, without spending one."),
            var("QUEUE_BASE_BACKOFF", API)
                .defaults_to("1s")
                .doc("The first retry's delay after a failed job (doubling each attempt)."),
            var("QUEUE_MAX_BACKOFF", API)
                .defaults_to("5m")
                .doc("The longest delay between two attempts of a failing job."),
            var("QUEUE_MAX_OUTAGE_BACKOFF", API)
                .defaults_to("30s")
                .doc("The longest pause between deferrals while a dependency is down, so its return is \
                 noticed soon."),
            var("QUEUE_MAX_DEFERRALS", API)
                .defaults_to("10000")
                .doc("Deferrals after which a job still finding its dependency down spends attempts \
                 (about 41 h at 30 s)."),
            var("QUEUE_VISIBILITY_TIMEOUT", API)
                .defaults_to("60s")
                .doc("A job held longer than this by a consumer that stopped answering is taken over \
                 by another."),
            var("QUEUE_HANDLER_TIMEOUT", API)
                .defaults_to("20s")
                .doc("A job running longer than this fails (and is retried); SHUTDOWN_TIMEOUT must \
                 exceed it."),
            var("QUEUE_CONCURRENCY", API)
                .defaults_to("8")
                .doc("Jobs one consumer runs at once."),
            var("QUEUE_STREAM_MAX_LEN", API)
                .defaults_to("100000")
                .doc("Soft cap on each topic stream: beyond it, entries every consumer group has \
                 acknowledged are trimmed; entries a group still needs never are."),
        ],
    },
    Section {
        title: "Auth throttling (per 15 minutes; see ARCHITECTURE.md, \"Login throttling\")",
        vars: &[
            var("LOGIN_ATTEMPTS_PER_EMAIL", &["auth"])
                .defaults_to("10")
                .doc("Failed logins on one e-mail from one client address before that address is \
                 refused (429) for that account; the owner elsewhere is not affected."),
            var("LOGIN_ATTEMPTS_PER_IP", &["auth"])
                .defaults_to("100")
                .doc("Failed logins from one client address, whatever the account, before it is \
                 refused."),
            var("LOGIN_SLOWDOWN_AFTER", &["auth"])
                .defaults_to("10")
                .doc("Failed logins on one e-mail from all addresses before each further attempt on it \
                 waits (250 ms, doubling, at most LOGIN_MAX_DELAY). The account is slowed down, \
                 never refused."),
            var("LOGIN_MAX_DELAY", &["gateway", "auth"])
                .defaults_to("5s")
                .doc("The gateway refuses to start unless UPSTREAM_TIMEOUT exceeds this by 2 s or more \
                 (0s: no slowdown)."),
            var("FORGOT_PASSWORD_PER_EMAIL", &["auth"])
                .defaults_to("3")
                .doc("Password-reset requests per e-mail address (per 15 minutes)."),
            var("FORGOT_PASSWORD_PER_IP", &["auth"])
                .defaults_to("20")
                .doc("Password-reset requests per client address (per 15 minutes)."),
            var("TRUSTED_PROXIES", &["gateway", "auth"])
                .doc("Proxies whose X-Forwarded-For is believed (comma-separated IPs or CIDR ranges); \
                 none by default. For a load balancer or reverse proxy in front of the gateway. \
                 The services of the split deployment need none: the gateway hands them the \
                 client address in a token signed with INTERNAL_JWT_SECRET."),
        ],
    },
    Section {
        title: "Tasks",
        vars: &[
            var("IDEMPOTENCY_KEY_TTL", &["task"])
                .defaults_to("24h")
                .doc("How long an Idempotency-Key of POST /tasks is remembered."),
        ],
    },
    Section {
        title: "E-mail (notification domain)",
        vars: &[
            var("SMTP_HOST", &["notification"])
                .doc("Without SMTP_HOST, e-mails are written as .eml files to MAIL_DIR (logged at \
                 start)."),
            var("SMTP_PORT", &["notification"])
                .defaults_to("1025")
                .doc("The mail server's port."),
            var("SMTP_USER", &["notification"])
                .doc("The mail server login (with SMTP_PASS); none by default."),
            var("SMTP_PASS", &["notification"])
                .doc("The mail server password."),
            var("SMTP_FROM", &["notification"])
                .defaults_to("Tessera <no-reply@tessera.local>")
                .doc("The sender of every e-mail."),
            var("SMTP_TLS", &["notification"])
                .defaults_to("none")
                .doc("none, starttls or tls."),
            var("SMTP_TIMEOUT", &["notification"])
                .defaults_to("10s")
                .doc("The bound on each SMTP step (connect, each command)."),
            var("MAIL_DIR", &["notification"])
                .defaults_to("var/mail")
                .doc("Where e-mails are written when SMTP_HOST is unset."),
            var("MAIL_SEND_TIMEOUT", &["notification"])
                .defaults_to("60s")
                .doc("POST /notifications/send only queues an e-mail; the notification service's mail \
                 dispatcher sends it. The bound on one whole SMTP conversation (at least \
                 SMTP_TIMEOUT); a claimed e-mail is leased for twice this, so replicas never send \
                 it twice at once."),
            var("MAIL_POLL_INTERVAL", &["notification"])
                .defaults_to("5s")
                .doc("How often the dispatcher looks for due e-mails (retries, e-mails other replicas \
                 stored); its own process's sends wake it at once."),
            var("MAIL_RETRY_MAX_BACKOFF", &["notification"])
                .defaults_to("60s")
                .doc("The longest wait between two attempts while the mail server is unavailable \
                 (exponential backoff with jitter from 1s; attempts never stop: an outage delays \
                 e-mails, it never loses them)."),
            var("SSE_HEARTBEAT_INTERVAL", &["notification"])
                .defaults_to("15s")
                .doc("How often the live stream (GET /notifications/stream) sends a keepalive comment."),
            var("SSE_MAX_STREAMS_PER_USER", &["notification"])
                .defaults_to("5")
                .doc("Streams one user may hold open at once on one process; beyond it GET \
                 /notifications/stream answers 429."),
        ],
    },
    Section {
        title: "Calls between services (split deployment)",
        vars: &[
            var("NOTIFICATION_SERVICE_URL", &["gateway", "worker"])
                .defaults_to("http://localhost:4004")
                .doc("Where the worker and the gateway reach the notification service outside their \
                 own process."),
            var("SERVICE_CALL_TIMEOUT", &["worker"])
                .defaults_to("5s")
                .doc("The bound on one call to another service."),
        ],
    },
    Section {
        title: "Gateway (the gateway module; its upstreams in the split deployment)",
        vars: &[
            var("AUTH_SERVICE_URL", &["gateway"])
                .defaults_to("http://localhost:4001")
                .doc("Where the gateway reaches the auth service when it is not in the same process."),
            var("USER_SERVICE_URL", &["gateway"])
                .defaults_to("http://localhost:4002")
                .doc("Where the gateway reaches the user service when it is not in the same process."),
            var("TASK_SERVICE_URL", &["gateway"])
                .defaults_to("http://localhost:4003")
                .doc("Where the gateway reaches the task service when it is not in the same process."),
            var("RATE_LIMIT_PER_MINUTE", &["gateway"])
                .defaults_to("100")
                .doc("Requests per minute per client IP, all routes."),
            var("AUTH_RATE_LIMIT_PER_MINUTE", &["gateway"])
                .defaults_to("10")
                .doc("Requests per minute per client IP to login, register, forgot- and \
                 reset-password."),
            var("CORS_ORIGINS", &["gateway"])
                .defaults_to("http://localhost:3000")
                .doc("Origins the browser may call the API from, comma-separated."),
            var("BODY_READ_TIMEOUT", &["gateway"])
                .defaults_to("10s")
                .doc("How long the gateway waits for a whole request body (408 after); \
                 BODY_LIMIT_BYTES bounds its size."),
            var("UPSTREAM_TIMEOUT", &["gateway"])
                .defaults_to("10s")
                .doc("How long the gateway waits for an upstream's response headers; at least \
                 LOGIN_MAX_DELAY + 2s, so a login slowed on purpose never times out (and never \
                 counts towards the circuit breaker)."),
            var("UPSTREAM_CONNECT_TIMEOUT", &["gateway"])
                .defaults_to("1s")
                .doc("How long the gateway waits to connect to an upstream."),
            var("BREAKER_FAILURES", &["gateway"])
                .defaults_to("5")
                .doc("Consecutive failures that open an upstream's circuit breaker."),
            var("BREAKER_OPEN_FOR", &["gateway"])
                .defaults_to("5s")
                .doc("How long an open circuit breaker refuses calls before trying the upstream again."),
        ],
    },
    Section {
        title: "Links",
        vars: &[
            var("WEB_APP_URL", &["auth", "notification", "worker", "ui"])
                .defaults_to("http://localhost:3000")
                .doc("The web app's base URL, used in e-mail links (password reset)."),
            var("API_GATEWAY_URL", &["ui"])
                .defaults_to("http://localhost:4000")
                .doc("The API base URL the web app calls (the gateway, as the browser reaches it): an \
                 http(s) origin, no path. The ui module writes it into index.html and allows it \
                 in the Content-Security-Policy."),
        ],
    },
];

/// Every declared variable, in `.env.example`'s order.
pub fn all() -> impl Iterator<Item = &'static Variable> {
    SECTIONS.iter().flat_map(|s| s.vars.iter())
}

/// The declaration of `name`, if it is declared.
pub fn find(name: &str) -> Option<&'static Variable> {
    all().find(|v| v.name == name)
}

/// The text of `.env.example`, generated from [`SECTIONS`].
pub fn env_example() -> String {
    let mut out = String::new();
    comment(
        &mut out,
        "Every variable Tessera reads, with its default. Generated from app/src/variables.rs \
         (edit that, then run `just env-example`). `just dev` writes a .env with random secrets \
         on first run; `shell` loads .env from its working directory, and variables already set \
         win.",
    );
    for section in SECTIONS {
        let heading = format!("# --- {} ", section.title);
        let pad = 100usize.saturating_sub(heading.len());
        out.push('\n');
        out.push_str(&heading);
        out.push_str(&"-".repeat(pad.max(3)));
        out.push('\n');
        for v in section.vars {
            let readers = if v.read_by == ALL {
                String::new()
            } else if v.read_by == API {
                " Read by every module but ui.".to_owned()
            } else {
                format!(" Read by: {}.", v.read_by.join(", "))
            };
            comment(&mut out, &format!("{}{readers}", v.doc));
            let value = v.default.or(v.example).unwrap_or("");
            out.push_str(&format!("{}={value}\n", v.name));
        }
    }
    out
}

/// `text` as `# ` lines of at most 100 columns.
fn comment(out: &mut String, text: &str) {
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() + 1 + word.len() > 100 && line.len() > 1 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    if line.len() > 1 {
        out.push_str(&line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn env_example_is_generated_from_the_declaration() {
        let path = root().join(".env.example");
        let want = env_example();
        if std::env::var_os("UPDATE_ENV_EXAMPLE").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let got = std::fs::read_to_string(&path).unwrap();
        assert!(
            got == want,
            ".env.example differs from app/src/variables.rs: run `just env-example`"
        );
    }

    #[test]
    fn each_variable_is_declared_once_and_well_formed() {
        let mut seen = BTreeSet::new();
        for v in all() {
            assert!(seen.insert(v.name), "{} is declared twice", v.name);
            assert!(
                v.name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "{}: not a variable name",
                v.name
            );
            assert!(!v.doc.is_empty(), "{} has no description", v.name);
            assert!(!v.read_by.is_empty(), "{}: read by no module", v.name);
            for m in v.read_by {
                assert!(ALL.contains(m), "{}: `{m}` is not a module", v.name);
            }
            if v.secret {
                assert!(
                    v.default.is_none() && v.example.is_none(),
                    "{} is a secret: no default, no example",
                    v.name
                );
            }
        }
    }

    /// Variables read by a library, not by a literal in our code.
    const READ_BY_LIBRARIES: &[&str] = &["RUST_LOG"];

    /// The Rust sources of the workspace (tests excluded), as `(path, text)`.
    fn sources() -> Vec<(String, String)> {
        fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    out.push((path.display().to_string(), text));
                }
            }
        }
        let mut out = Vec::new();
        let root = root();
        for dir in ["app/src", "shell/src", "ui/src"] {
            walk(&root.join(dir), &mut out);
        }
        for entry in std::fs::read_dir(root.join("domains")).unwrap().flatten() {
            walk(&entry.path().join("src"), &mut out);
        }
        out.retain(|(path, _)| !path.ends_with("variables.rs"));
        assert!(out.len() > 20, "found only {} source files", out.len());
        out
    }

    #[test]
    fn the_module_lists_are_the_table_of_services() {
        use crate::services::{Kind, SERVICES};
        let names = |f: &dyn Fn(&crate::services::Service) -> bool| -> Vec<&str> {
            SERVICES.iter().filter(|s| f(s)).map(|s| s.name).collect()
        };
        assert_eq!(ALL, names(&|_| true));
        assert_eq!(API, names(&|s| s.kind != Kind::WebApp));
        assert_eq!(DATABASES, names(&|s| s.database_var.is_some()));
    }

    #[test]
    fn every_declared_variable_is_read_by_the_code() {
        let sources = sources();
        let unread: Vec<&str> = all()
            .map(|v| v.name)
            .filter(|name| !READ_BY_LIBRARIES.contains(name))
            .filter(|name| {
                let literal = format!("\"{name}\"");
                // `<DOMAIN>_DATABASE_URL` is read as `database_url("<domain>")` or, by a domain,
                // `platform.database("<domain>")`.
                let derived: Vec<String> = name
                    .strip_suffix("_DATABASE_URL")
                    .map(|d| d.to_ascii_lowercase())
                    .into_iter()
                    .flat_map(|d| {
                        [
                            format!("database_url(\"{d}\")"),
                            format!("database(\"{d}\")"),
                        ]
                    })
                    .collect();
                !sources.iter().any(|(_, text)| {
                    text.contains(&literal) || derived.iter().any(|d| text.contains(d))
                })
            })
            .collect();
        assert!(
            unread.is_empty(),
            "declared in app/src/variables.rs but read by no code: {unread:?}"
        );
    }

    #[test]
    fn every_variable_the_code_reads_by_name_is_declared() {
        // Env refuses an undeclared name at run time in debug builds; this catches the reads no
        // test reaches: a literal first argument of an Env accessor, or a clap `env = "..."`.
        let accessors = [
            ".get(",
            ".required(",
            ".parse_or(",
            ".duration_or(",
            ".positive_duration_or(",
            ".secret(",
            ".list_or(",
            "env = ",
        ];
        let mut undeclared = Vec::new();
        let mut reads = 0;
        for (path, text) in sources() {
            for accessor in accessors {
                for (at, _) in text.match_indices(accessor) {
                    let rest = text[at + accessor.len()..].trim_start();
                    let Some(name) = rest.strip_prefix('"').and_then(|r| r.split('"').next())
                    else {
                        continue;
                    };
                    let is_var = name.len() > 1
                        && name
                            .chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                    if !is_var {
                        continue;
                    }
                    reads += 1;
                    if find(name).is_none() {
                        undeclared.push(format!("{path}: {name}"));
                    }
                }
            }
        }
        assert!(reads > 50, "the scan saw only {reads} reads");
        assert!(
            undeclared.is_empty(),
            "read but not declared in app/src/variables.rs:\n  {}",
            undeclared.join("\n  ")
        );
    }
}
