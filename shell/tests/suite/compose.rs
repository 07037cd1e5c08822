//! The deployments as files: `compose.split.yml`, `compose.mono.yml`, the `Dockerfile` and the
//! `just split` script (`.ci/split`), checked against DESIGN.md's process interface and against
//! the declared configuration (`tessera_app::variables`, from which `.env.example` is
//! generated). `just compose-test` also runs both compose files on Docker; these checks need no
//! Docker and name the rule a file breaks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use tessera_app::services::{self, SERVICES};
use tessera_app::variables;
use yaml_serde::Value;

/// Variables that must never have a default in a compose file (the declared secrets: checked
/// below).
const SECRETS: &[&str] = &["JWT_SECRET", "INTERNAL_JWT_SECRET"];
/// Where the image keeps the web app's bundle (the `ui` module's UI_DIR).
const UI_BUNDLE: &str = "/usr/local/share/tessera/ui";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The port of each module when it runs alone (the web app's is `UI_PORT`), from the table of
/// services (DESIGN.md "Process interface").
fn port_of(module: &str) -> u16 {
    services::find(module)
        .map(|s| s.port)
        .unwrap_or_else(|| panic!("the table of services has no `{module}`"))
}

/// The domains with a database of their own (the table of services).
fn databases() -> Vec<&'static str> {
    SERVICES
        .iter()
        .filter(|s| s.database_var.is_some())
        .map(|s| s.name)
        .collect()
}

/// The modules of the single process's image: all of them.
fn mono_features() -> Vec<&'static str> {
    SERVICES.iter().map(|s| s.name).collect()
}

// ------------------------------------------------------------------------------------------------
// Compose files

struct Compose {
    file: &'static str,
    doc: Value,
}

impl Compose {
    fn load(file: &'static str) -> Self {
        let mut doc: Value =
            yaml_serde::from_str(&read(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        doc.apply_merge()
            .unwrap_or_else(|e| panic!("{file}: merge keys: {e}"));
        Self { file, doc }
    }

    fn split() -> Self {
        Self::load("compose.split.yml")
    }

    fn mono() -> Self {
        Self::load("compose.mono.yml")
    }

    fn service_names(&self) -> BTreeSet<String> {
        self.doc["services"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{}: no services", self.file))
            .keys()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect()
    }

    fn service(&self, name: &str) -> &Value {
        let svc = &self.doc["services"][name];
        assert!(!svc.is_null(), "{}: no service `{name}`", self.file);
        svc
    }

    /// The service's `environment`, values as the file spells them.
    fn env(&self, name: &str) -> BTreeMap<String, String> {
        let env = &self.service(name)["environment"];
        let mut out = BTreeMap::new();
        if let Some(map) = env.as_mapping() {
            for (k, v) in map {
                let key = k.as_str().unwrap_or_default().to_owned();
                out.insert(key, scalar(v).unwrap_or_default());
            }
        } else if let Some(list) = env.as_sequence() {
            for item in list {
                let item = item.as_str().unwrap_or_default();
                let (k, v) = item.split_once('=').unwrap_or((item, ""));
                out.insert(k.to_owned(), v.to_owned());
            }
        }
        out
    }

    fn env_var(&self, service: &str, var: &str) -> String {
        self.env(service)
            .get(var)
            .cloned()
            .unwrap_or_else(|| panic!("{}: service `{service}` does not set {var}", self.file))
    }

    /// The healthcheck's command as one string (empty when there is none).
    fn healthcheck(&self, name: &str) -> String {
        let test = &self.service(name)["healthcheck"]["test"];
        match test {
            Value::Sequence(items) => items
                .iter()
                .filter_map(scalar)
                .collect::<Vec<_>>()
                .join(" "),
            other => scalar(other).unwrap_or_default(),
        }
    }

    /// `(host, container)` port pairs of `ports:`.
    fn published(&self, name: &str) -> Vec<(String, String)> {
        self.service(name)["ports"]
            .as_sequence()
            .map(|ports| {
                ports
                    .iter()
                    .filter_map(scalar)
                    .map(|p| {
                        let parts: Vec<&str> = p.split(':').collect();
                        let container = parts.last().copied().unwrap_or_default();
                        let host = if parts.len() >= 2 {
                            parts[parts.len() - 2]
                        } else {
                            container
                        };
                        (host.to_owned(), container.to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn split_apps() -> Vec<&'static str> {
    SERVICES.iter().map(|s| s.name).collect()
}

/// The app containers of each file: the ones built from the Dockerfile.
fn app_containers(compose: &Compose) -> Vec<String> {
    compose
        .service_names()
        .into_iter()
        .filter(|s| !compose.service(s)["build"].is_null())
        .collect()
}

/// The port of the URL in `text` after `http://<host>:`, e.g. a healthcheck command.
fn url_port(text: &str, host: &str) -> Option<u16> {
    let prefix = format!("http://{host}:");
    let rest = &text[text.find(&prefix)? + prefix.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `(host, database)` of a postgres URL.
fn db_target(url: &str) -> (String, String) {
    let after_at = url.rsplit_once('@').map(|(_, r)| r).unwrap_or(url);
    let (host_port, db) = after_at.split_once('/').unwrap_or((after_at, ""));
    let host = host_port.split(':').next().unwrap_or_default();
    (
        host.to_owned(),
        db.split('?').next().unwrap_or_default().to_owned(),
    )
}

#[test]
fn the_split_file_has_every_service_the_design_names() {
    let split = Compose::split();
    let mut expected = set(&split_apps());
    for d in databases() {
        expected.insert(format!("{d}-db"));
    }
    expected.extend(set(&["redis", "mailpit"]));
    let actual = split.service_names();
    let missing: Vec<_> = expected.difference(&actual).collect();
    let unexpected: Vec<_> = actual.difference(&expected).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "compose.split.yml: missing services {missing:?}, unexpected services {unexpected:?}"
    );
    assert_eq!(
        app_containers(&split).into_iter().collect::<BTreeSet<_>>(),
        set(&split_apps()),
        "compose.split.yml: the app containers (those with `build:`) are the seven modules"
    );
}

#[test]
fn the_split_services_tell_clients_apart_without_network_configuration() {
    // The gateway names each request's client in a client-hop token signed with
    // INTERNAL_JWT_SECRET, so no service has to recognise the gateway by its address: no fixed
    // subnet, no pinned container address, no TRUSTED_PROXIES behind the gateway.
    let split = Compose::split();
    assert!(
        split.doc["networks"]["default"]["ipam"].is_null(),
        "compose.split.yml: the default network needs no fixed subnet"
    );
    for app in app_containers(&split) {
        assert!(
            split.service(&app)["networks"]["default"]["ipv4_address"].is_null(),
            "compose.split.yml: {app} needs no fixed address"
        );
        if app != "gateway" {
            assert!(
                !split.env(&app).contains_key("TRUSTED_PROXIES"),
                "compose.split.yml: {app} sets TRUSTED_PROXIES; behind the gateway the client \
                 address comes in the client-hop token"
            );
        }
    }
}

/// Addresses a service pins (`ipv4_address`) that Docker may already have given to a container
/// started earlier: each must lie in its network's subnet and outside the `ip_range` Docker
/// hands out dynamic addresses from (without an `ip_range`, the whole subnet). A pinned gateway
/// that starts last otherwise fails with `Address already in use` (issue 16).
fn pinned_address_clashes(doc: &Value) -> Vec<String> {
    fn parse(cidr: &str) -> Option<(u32, u32)> {
        let (ip, bits) = cidr.split_once('/').unwrap_or((cidr, "32"));
        let ip: std::net::Ipv4Addr = ip.parse().ok()?;
        let bits: u32 = bits.parse().ok().filter(|b| *b <= 32)?;
        let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
        Some((u32::from(ip) & mask, mask))
    }
    let within = |ip: &str, cidr: &str| match (parse(ip), parse(cidr)) {
        (Some((ip, _)), Some((net, mask))) => ip & mask == net,
        _ => false,
    };
    let mut clashes = Vec::new();
    for (name, svc) in doc["services"].as_mapping().into_iter().flatten() {
        let name = name.as_str().unwrap_or_default();
        for (network, settings) in svc["networks"].as_mapping().into_iter().flatten() {
            let Some(ip) = settings["ipv4_address"].as_str() else {
                continue;
            };
            let network = network.as_str().unwrap_or_default();
            let pools = doc["networks"][network]["ipam"]["config"].as_sequence();
            let pool = pools
                .into_iter()
                .flatten()
                .find(|p| p["subnet"].as_str().is_some_and(|s| within(ip, s)));
            match pool {
                None => clashes.push(format!("{name}: {ip} is in no subnet of `{network}`")),
                Some(pool) => {
                    let dynamic = pool["ip_range"].as_str().or(pool["subnet"].as_str());
                    if dynamic.is_some_and(|range| within(ip, range)) {
                        clashes.push(format!(
                            "{name}: {ip} can be given to another container of `{network}` \
                             first (set an ip_range that leaves it out)"
                        ));
                    }
                }
            }
        }
    }
    clashes
}

#[test]
fn no_pinned_address_can_be_taken_by_another_container() {
    for compose in [Compose::split(), Compose::mono()] {
        let clashes = pinned_address_clashes(&compose.doc);
        assert!(clashes.is_empty(), "{}: {clashes:?}", compose.file);
    }
    // The check itself, on the layout that failed: the gateway pinned inside the dynamic range,
    // then the same with an ip_range that leaves its address out.
    let pinned = |ipam: &str| -> Value {
        yaml_serde::from_str(&format!(
            "services:\n  auth: {{}}\n  gateway:\n    networks:\n      default:\n        \
             ipv4_address: 172.30.40.10\nnetworks:\n  default:\n    ipam:\n      config:\n        \
             - {{subnet: 172.30.40.0/24{ipam}}}\n"
        ))
        .unwrap()
    };
    assert_eq!(pinned_address_clashes(&pinned("")).len(), 1);
    assert!(pinned_address_clashes(&pinned(", ip_range: 172.30.40.128/25")).is_empty());
}

#[test]
fn the_mono_file_has_every_service_the_design_names() {
    let mono = Compose::mono();
    let expected = set(&["app", "postgres", "redis", "mailpit"]);
    let actual = mono.service_names();
    assert_eq!(
        actual, expected,
        "compose.mono.yml: services differ from app + postgres + redis + mailpit"
    );
    assert_eq!(app_containers(&mono), vec!["app".to_owned()]);
}

#[test]
fn secrets_come_from_the_environment_without_defaults() {
    let split = Compose::split();
    let shared = &split.doc["x-app-env"];
    for secret in SECRETS {
        assert!(
            !shared[*secret].is_null(),
            "compose.split.yml: the shared `x-app-env` block sets no {secret}"
        );
    }
    for compose in [split, Compose::mono()] {
        for svc in app_containers(&compose) {
            for secret in SECRETS {
                let value = compose.env_var(&svc, secret);
                assert!(
                    value.starts_with(&format!("${{{secret}:?")) && value.ends_with('}'),
                    "{}: {svc} must take {secret} from the environment with no default \
                     (`${{{secret}:?message}}`), not `{value}`",
                    compose.file
                );
            }
        }
    }
}

#[test]
fn each_app_container_listens_and_is_checked_on_its_design_port() {
    // The table above is also what the binary defaults to.
    for domain in shell::compiled_domains() {
        let alone = shell::Selection {
            gateway: false,
            domains: vec![domain],
            ui: shell::UiMount::No,
        };
        assert_eq!(
            shell::default_port(&alone),
            port_of(domain.name),
            "shell's default port for `{}` differs from DESIGN.md",
            domain.name
        );
    }
    let gateway = shell::Selection {
        gateway: true,
        domains: Vec::new(),
        ui: shell::UiMount::No,
    };
    assert_eq!(shell::default_port(&gateway), port_of("gateway"));
    let split = Compose::split();
    for app in split_apps() {
        let listener = if app == "ui" { "UI_PORT" } else { "PORT" };
        let port = split.env_var(app, listener);
        assert_eq!(
            port,
            port_of(app).to_string(),
            "compose.split.yml: {app} sets {listener}={port}, DESIGN.md says {}",
            port_of(app)
        );
        let check = split.healthcheck(app);
        assert_eq!(
            url_port(&check, "127.0.0.1"),
            Some(port_of(app)),
            "compose.split.yml: {app}'s healthcheck `{check}` does not call its port {}",
            port_of(app)
        );
    }
    let mono = Compose::mono();
    assert_eq!(
        mono.env_var("app", "PORT"),
        "4000",
        "compose.mono.yml: app PORT"
    );
    assert_eq!(
        mono.env_var("app", "UI_PORT"),
        "3000",
        "compose.mono.yml: app UI_PORT"
    );
    assert_eq!(
        url_port(&mono.healthcheck("app"), "127.0.0.1"),
        Some(4000),
        "compose.mono.yml: app's healthcheck does not call :4000"
    );
}

#[test]
fn service_urls_name_the_service_and_its_port() {
    for compose in [Compose::split(), Compose::mono()] {
        for svc in app_containers(&compose) {
            for (var, value) in compose.env(&svc) {
                let Some(target) = var.strip_suffix("_SERVICE_URL") else {
                    continue;
                };
                let target = target.to_ascii_lowercase();
                let expected = format!("http://{target}:{}", port_of(&target));
                assert_eq!(
                    value, expected,
                    "{}: {svc} sets {var}={value}, expected {expected}",
                    compose.file
                );
                assert_eq!(
                    compose.env_var(&target, "PORT"),
                    port_of(&target).to_string(),
                    "{}: {svc}'s {var} names `{target}`, which must listen on {}",
                    compose.file,
                    port_of(&target)
                );
            }
        }
    }
    let split = Compose::split();
    for up in services::routed() {
        split.env_var("gateway", up.url_var.unwrap());
    }
    split.env_var("worker", services::NOTIFICATION.url_var.unwrap());
}

#[test]
fn each_split_domain_container_uses_its_own_database() {
    let split = Compose::split();
    for app in split_apps() {
        let env = split.env(app);
        let per_domain: Vec<_> = env
            .keys()
            .filter(|k| k.ends_with("_DATABASE_URL"))
            .collect();
        assert!(
            per_domain.is_empty(),
            "compose.split.yml: {app} sets {per_domain:?}; a single-domain container uses DATABASE_URL"
        );
        if !databases().contains(&app) {
            assert!(
                !env.contains_key("DATABASE_URL"),
                "compose.split.yml: {app} has no database but sets DATABASE_URL"
            );
            continue;
        }
        let db_service = format!("{app}-db");
        let db_name = split.env_var(&db_service, "POSTGRES_DB");
        assert_eq!(
            db_name,
            format!("tessera_{app}"),
            "compose.split.yml: {db_service}"
        );
        let url = split.env_var(app, "DATABASE_URL");
        assert_eq!(
            db_target(&url),
            (db_service.clone(), db_name),
            "compose.split.yml: {app}'s DATABASE_URL `{url}` must point at {db_service} and its database"
        );
    }
}

#[test]
fn the_mono_postgres_holds_the_four_databases_the_app_uses() {
    let mono = Compose::mono();
    let mut created: BTreeSet<String> = [mono.env_var("postgres", "POSTGRES_DB")].into();
    let mut mounted = false;
    for cfg in mono.service("postgres")["configs"]
        .as_sequence()
        .cloned()
        .unwrap_or_default()
    {
        let source = cfg["source"].as_str().unwrap_or_default();
        let target = cfg["target"].as_str().unwrap_or_default();
        mounted |= target.starts_with("/docker-entrypoint-initdb.d/");
        let content = mono.doc["configs"][source]["content"]
            .as_str()
            .unwrap_or_default();
        for stmt in content.split(';') {
            if let Some(name) = stmt.trim().strip_prefix("CREATE DATABASE ") {
                created.insert(name.trim().to_owned());
            }
        }
    }
    assert!(
        mounted,
        "compose.mono.yml: the database init script is not in /docker-entrypoint-initdb.d/"
    );
    let env = mono.env("app");
    assert!(
        !env.contains_key("DATABASE_URL"),
        "compose.mono.yml: app mounts several domains; plain DATABASE_URL means nothing to it"
    );
    for d in databases() {
        let var = services::database_var(d).unwrap();
        let url = mono.env_var("app", var);
        let (host, db) = db_target(&url);
        assert_eq!(
            host, "postgres",
            "compose.mono.yml: app's {var} `{url}` must point at postgres"
        );
        assert_eq!(
            db,
            format!("tessera_{d}"),
            "compose.mono.yml: app's {var} `{url}`"
        );
        assert!(
            created.contains(&db),
            "compose.mono.yml: nothing creates database {db} (created: {created:?})"
        );
    }
}

#[test]
fn dependencies_wait_until_healthy() {
    let routed: Vec<&str> = services::routed().map(|s| s.name).collect();
    let split_edges: &[(&str, &[&str])] = &[
        ("gateway", &routed),
        ("auth", &["auth-db", "redis"]),
        ("user", &["user-db", "redis"]),
        ("task", &["task-db", "redis"]),
        ("notification", &["notification-db", "redis", "mailpit"]),
        ("worker", &["notification", "redis"]),
        ("ui", &["gateway"]),
    ];
    let mono_edges: &[(&str, &[&str])] = &[("app", &["postgres", "redis", "mailpit"])];
    for (compose, edges) in [
        (Compose::split(), split_edges),
        (Compose::mono(), mono_edges),
    ] {
        for svc in compose.service_names() {
            assert!(
                !compose.healthcheck(&svc).is_empty(),
                "{}: {svc} has no healthcheck",
                compose.file
            );
            let deps = &compose.service(&svc)["depends_on"];
            if deps.is_null() {
                continue;
            }
            let deps = deps.as_mapping().unwrap_or_else(|| {
                panic!("{}: {svc}'s depends_on must be the long form with `condition: service_healthy`", compose.file)
            });
            for (dep, spec) in deps {
                let dep = dep.as_str().unwrap_or_default();
                assert_eq!(
                    spec["condition"].as_str(),
                    Some("service_healthy"),
                    "{}: {svc} depends on {dep} without `condition: service_healthy`",
                    compose.file
                );
                assert!(
                    !compose.healthcheck(dep).is_empty(),
                    "{}: {svc} waits for {dep} to be healthy, but {dep} has no healthcheck",
                    compose.file
                );
            }
        }
        for (svc, needed) in edges {
            for dep in *needed {
                assert!(
                    !compose.service(svc)["depends_on"][*dep].is_null(),
                    "{}: {svc} must depend on {dep}",
                    compose.file
                );
            }
        }
    }
}

#[test]
fn only_the_entry_points_publish_ports() {
    let expected_split: &[(&str, &[&str])] = &[
        ("gateway", &["4000"]),
        ("ui", &["3000"]),
        ("mailpit", &["8025"]),
    ];
    let expected_mono: &[(&str, &[&str])] = &[("app", &["4000", "3000"]), ("mailpit", &["8025"])];
    for (compose, expected) in [
        (Compose::split(), expected_split),
        (Compose::mono(), expected_mono),
    ] {
        for svc in compose.service_names() {
            let published = compose.published(&svc);
            let want = expected
                .iter()
                .find(|(s, _)| *s == svc)
                .map(|(_, p)| *p)
                .unwrap_or(&[]);
            let got: BTreeSet<String> = published
                .iter()
                .map(|(host, container)| {
                    assert_eq!(
                        host, container,
                        "{}: {svc} maps host {host} to {container}",
                        compose.file
                    );
                    container.clone()
                })
                .collect();
            assert_eq!(
                got,
                set(want),
                "{}: {svc} publishes {got:?}; only gateway/ui/mailpit (split) and app/mailpit (mono) publish, on their own ports",
                compose.file
            );
        }
    }
}

/// `40s`, `1m30s`, `500ms` as Docker and the app spell durations (the subset the files use).
fn seconds(text: &str) -> f64 {
    let (mut total, mut number) = (0.0, String::new());
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let value: f64 = number
            .parse()
            .unwrap_or_else(|_| panic!("bad duration {text:?}"));
        number.clear();
        total += match c {
            'h' => value * 3600.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                value / 1000.0
            }
            'm' => value * 60.0,
            's' => value,
            _ => panic!("bad duration {text:?}"),
        };
    }
    assert!(number.is_empty(), "duration {text:?} has no unit");
    total
}

#[test]
fn docker_waits_longer_than_the_app_takes_to_shut_down() {
    // Docker's default grace is 10 s, then SIGKILL: a job still running then is redelivered and
    // its e-mail sent twice. The app's own budget is SHUTDOWN_TIMEOUT (default 30 s).
    for compose in [Compose::split(), Compose::mono()] {
        for app in app_containers(&compose) {
            let grace = scalar(&compose.service(&app)["stop_grace_period"])
                .unwrap_or_else(|| panic!("{}: `{app}` has no stop_grace_period", compose.file));
            let shutdown = compose
                .env(&app)
                .get("SHUTDOWN_TIMEOUT")
                .cloned()
                .unwrap_or_else(|| "30s".to_owned());
            assert!(
                seconds(&grace) > seconds(&shutdown),
                "{}: `{app}` stop_grace_period {grace} is not longer than SHUTDOWN_TIMEOUT \
                 {shutdown}",
                compose.file
            );
        }
    }
    assert_eq!(seconds("1m30s"), 90.0);
    assert_eq!(seconds("500ms"), 0.5);
}

#[test]
fn redis_keeps_an_append_only_file() {
    for compose in [Compose::split(), Compose::mono()] {
        let redis = compose.service("redis");
        let command: Vec<String> = match &redis["command"] {
            Value::Sequence(items) => items.iter().filter_map(scalar).collect(),
            other => scalar(other)
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        };
        assert!(
            command
                .windows(2)
                .any(|w| w[0] == "--appendonly" && w[1] == "yes"),
            "{}: redis must run with --appendonly yes, runs {command:?}",
            compose.file
        );
        let volumes: Vec<String> = redis["volumes"]
            .as_sequence()
            .map(|v| v.iter().filter_map(scalar).collect())
            .unwrap_or_default();
        assert!(
            volumes.iter().any(|v| v.ends_with(":/data")),
            "{}: redis's /data (where the AOF lives) is not a volume",
            compose.file
        );
    }
}

#[test]
fn the_image_compiles_the_binary_and_bundle_unless_told_to_take_them_prebuilt() {
    let dockerfile = read("Dockerfile");
    // A `# syntax=` line makes BuildKit fetch a frontend image, which fails without a registry.
    assert!(
        !dockerfile.lines().any(|l| l.starts_with("# syntax=")),
        "Dockerfile: no `# syntax=` line (see its header)"
    );
    for line in [
        // Production compiles both in the image; CI (.ci/compose-test) names `prebuilt`.
        "ARG SHELL_FROM=builder",
        "ARG UI_FROM=ui",
        "FROM ${SHELL_FROM} AS shell-binary",
        "FROM ${UI_FROM} AS ui-bundle",
        "COPY --from=shell-binary /usr/local/bin/shell /usr/local/bin/shell",
        "FROM scratch AS prebuilt",
    ] {
        assert!(dockerfile.contains(line), "Dockerfile: missing `{line}`");
    }
    assert!(
        dockerfile.contains("cp target/release/shell /usr/local/bin/shell"),
        "Dockerfile: the builder stage leaves the binary where the runtime stage takes it"
    );
}

#[test]
fn each_container_is_built_with_the_modules_it_runs() {
    let split = Compose::split();
    for app in split_apps() {
        let build = &split.service(app)["build"];
        assert_eq!(
            build["context"].as_str(),
            Some("."),
            "compose.split.yml: {app} build context"
        );
        assert_eq!(
            build["args"]["FEATURES"].as_str(),
            Some(app),
            "compose.split.yml: {app} must be built with FEATURES={app} only"
        );
        assert_eq!(
            split.env_var(app, "SERVICES"),
            app,
            "compose.split.yml: {app} SERVICES"
        );
    }
    let mono = Compose::mono();
    let features = mono.service("app")["build"]["args"]["FEATURES"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let words: BTreeSet<String> = features.split_whitespace().map(str::to_owned).collect();
    assert!(
        set(&mono_features()).is_subset(&words),
        "compose.mono.yml: app is built with FEATURES=`{features}`, which lacks some of {:?}",
        mono_features()
    );
    assert!(
        !mono.env("app").contains_key("SERVICES"),
        "compose.mono.yml: app mounts everything: no SERVICES"
    );

    let dockerfile = read("Dockerfile");
    let default = dockerfile
        .lines()
        .find_map(|l| l.trim().strip_prefix("ARG FEATURES="))
        .expect("Dockerfile: ARG FEATURES=...")
        .trim_matches('"');
    assert_eq!(
        default.split_whitespace().collect::<Vec<_>>(),
        mono_features(),
        "Dockerfile: FEATURES default"
    );
    let mut all_features: Vec<String> = words.iter().cloned().collect();
    all_features.extend(split_apps().into_iter().map(str::to_owned));
    for word in all_features {
        assert!(
            services::find(&word).is_some(),
            "FEATURES names `{word}`, not a module"
        );
    }
    assert!(
        dockerfile.contains(r#"cargo build --release --locked -p shell --no-default-features --features "$FEATURES""#),
        "Dockerfile: the binary must be built with exactly FEATURES"
    );
    for line in [
        "USER 10001",
        "ENTRYPOINT [\"shell\"]",
        "CMD [\"serve\"]",
        "EXPOSE 4000",
    ] {
        assert!(dockerfile.contains(line), "Dockerfile: missing `{line}`");
    }
}

#[test]
fn the_web_app_is_built_into_the_image_and_served_on_its_port() {
    let dockerfile = read("Dockerfile");
    // One FEATURES default for every stage: the binary and the bundle must agree.
    let defaults: BTreeSet<&str> = dockerfile
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ARG FEATURES="))
        .collect();
    assert_eq!(
        defaults.len(),
        1,
        "Dockerfile: FEATURES defaults differ: {defaults:?}"
    );
    let stage = dockerfile
        .split_once("AS ui\n")
        .and_then(|(_, rest)| rest.split_once("\nFROM "))
        .map(|(stage, _)| stage.replace("\\\n", " "))
        .expect("Dockerfile: a `ui` stage");
    for (needle, why) in [
        (
            r#"cargo install wasm-bindgen-cli --version "=$bindgen""#,
            "wasm-bindgen-cli at the version Cargo.lock pins",
        ),
        (
            "grep -A1 '^name = \"wasm-bindgen\"$' Cargo.lock",
            "the pin read from Cargo.lock",
        ),
        ("ui/build.sh", "the justfile's build script"),
        ("npm ci", "the npm tools from the lockfile"),
        (
            "COPY --from=node /usr/local/bin/node",
            "Node for the npm tools",
        ),
        (
            "cp -r ui/dist/. /ui-dist/",
            "the bundle copied out of the stage",
        ),
    ] {
        assert!(
            stage.contains(needle),
            "Dockerfile's ui stage: {why} (`{needle}`)"
        );
    }
    let install = stage
        .split(';')
        .find(|c| c.contains("cargo install wasm-bindgen-cli"))
        .unwrap_or_default();
    assert!(
        !install.contains("--locked"),
        "Dockerfile: wasm-bindgen-cli must be installed without --locked (TOOLS.md)"
    );
    for line in [
        // The `ui` stage unless UI_FROM names another (see the next test).
        format!("COPY --from=ui-bundle /ui-dist {UI_BUNDLE}"),
        format!("ENV UI_DIR={UI_BUNDLE}"),
    ] {
        assert!(dockerfile.contains(&line), "Dockerfile: missing `{line}`");
    }
    assert!(
        dockerfile
            .lines()
            .any(|l| l.starts_with("EXPOSE ") && l.split_whitespace().any(|p| p == "3000")),
        "Dockerfile: EXPOSE the web app's port 3000"
    );

    let split = Compose::split();
    let ui = split.env("ui");
    for (var, want) in [
        ("SERVICES", "ui"),
        ("UI_PORT", "3000"),
        ("UI_DIR", UI_BUNDLE),
        (
            "API_GATEWAY_URL",
            "${API_GATEWAY_URL:-http://localhost:4000}",
        ),
    ] {
        assert_eq!(
            ui.get(var).map(String::as_str),
            Some(want),
            "compose.split.yml: ui's {var}"
        );
    }
    assert!(
        split.service("ui")["command"].is_null(),
        "compose.split.yml: ui runs the image's `serve`, SERVICES=ui picks the module"
    );
    assert_eq!(
        split.healthcheck("ui"),
        "CMD curl -fsS http://127.0.0.1:3000/health",
        "compose.split.yml: ui's healthcheck calls the web app's /health"
    );
    // The API base the browser is given is the gateway's published port.
    assert_eq!(
        split.published("gateway"),
        [("4000".to_owned(), "4000".to_owned())]
    );

    let mono = Compose::mono();
    let app = mono.env("app");
    for (var, want) in [
        ("UI_PORT", "3000"),
        ("UI_DIR", UI_BUNDLE),
        (
            "API_GATEWAY_URL",
            "${API_GATEWAY_URL:-http://localhost:4000}",
        ),
    ] {
        assert_eq!(
            app.get(var).map(String::as_str),
            Some(want),
            "compose.mono.yml: app's {var}"
        );
    }
    let check = mono.healthcheck("app");
    assert!(
        check.contains("http://127.0.0.1:4000/ready")
            && check.contains("http://127.0.0.1:3000/health"),
        "compose.mono.yml: app's healthcheck must check the API and the web app: `{check}`"
    );
    // The web app's origin may call the gateway (with its session cookie).
    for (compose, svc) in [(&split, "gateway"), (&mono, "app")] {
        let cors = compose.env_var(svc, "CORS_ORIGINS");
        assert!(
            cors.contains("http://localhost:3000") && !cors.contains('*'),
            "{}: {svc}'s CORS_ORIGINS must list the web app's origin by name: `{cors}`",
            compose.file
        );
    }
}

// ------------------------------------------------------------------------------------------------
// `just split`

#[test]
fn the_split_script_runs_each_service_on_its_port_with_the_compose_names() {
    let justfile = read("justfile");
    assert!(
        justfile.lines().any(|l| l.starts_with("split:")) && justfile.contains(".ci/split"),
        "justfile: the `split` recipe must run .ci/split"
    );
    let script = read(".ci/split").replace("\\\n", " ");
    let split = Compose::split();

    // Variables every process gets: the compose file's shared block.
    let common = script
        .split_once("common=(")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(body, _)| body)
        .expect(".ci/split: no `common=(...)`");
    for var in assignments(common.split_whitespace()) {
        if var == "PATH" {
            continue;
        }
        assert!(
            !split.doc["x-app-env"][var.as_str()].is_null(),
            ".ci/split gives every process {var}, which compose.split.yml's x-app-env does not set"
        );
    }

    let mut started = BTreeSet::new();
    for line in script
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("run "))
    {
        // `run <service> [VAR=value ...]`: the port and the URLs come from the table of services.
        let name = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        assert!(
            services::find(&name).is_some(),
            ".ci/split: `{line}` starts no service of the table"
        );
        let env = split.env(&name);
        for word in line.split_whitespace().skip(2) {
            let Some((var, value)) = word.split_once('=') else {
                continue;
            };
            assert!(
                env.contains_key(var),
                ".ci/split gives {name} {var}, which compose.split.yml does not set for {name}"
            );
            if let Some(target) = var.strip_suffix("_SERVICE_URL") {
                let target = target.to_ascii_lowercase();
                assert_eq!(
                    value,
                    format!("http://127.0.0.1:{}", port_of(&target)),
                    ".ci/split: {name}'s {var}"
                );
            }
        }
        started.insert(name);
    }
    let expected: BTreeSet<String> = split_apps()
        .into_iter()
        .filter(|a| *a != "ui")
        .map(str::to_owned)
        .collect();
    assert_eq!(
        started, expected,
        ".ci/split starts every service but the web app"
    );
}

#[test]
fn just_dev_names_the_web_app_next_to_the_api() {
    let justfile = read("justfile");
    let recipe: String = justfile
        .split_once("\ndev:")
        .map(|(_, rest)| {
            rest.lines()
                .skip(1)
                .take_while(|l| l.starts_with("    ") || l.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .expect("justfile: a `dev` recipe");
    assert!(
        recipe.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with("echo \"  web app") && l.contains("http://localhost:${UI_PORT:-3000}")
        }),
        "justfile: `just dev` must print the web app's URL on UI_PORT next to the API's:\n{recipe}"
    );
    assert!(
        recipe.contains("http://localhost:${PORT:-4000}"),
        "justfile: `just dev` still prints the API"
    );
}

fn assignments<'a>(words: impl Iterator<Item = &'a str>) -> Vec<String> {
    words
        .filter_map(|w| w.split_once('=').map(|(k, _)| k.to_owned()))
        .filter(|k| is_var_name(k))
        .collect()
}

// ------------------------------------------------------------------------------------------------
// The compose files against the declared configuration (app/src/variables.rs)

fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[test]
fn every_variable_an_app_container_sets_is_declared_and_read_there() {
    let split = Compose::split();
    // The block every split container gets: each of its variables is read by some module.
    let shared: BTreeSet<String> = split.doc["x-app-env"]
        .as_mapping()
        .expect("compose.split.yml: an x-app-env block")
        .keys()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    let mut wrong = Vec::new();
    for compose in [split, Compose::mono()] {
        for svc in app_containers(&compose) {
            let env = compose.env(&svc);
            // The modules the container runs: SERVICES, or every module (mono).
            let modules: Vec<String> = env.get("SERVICES").map_or_else(
                || SERVICES.iter().map(|s| s.name.to_owned()).collect(),
                |s| s.split(',').map(str::to_owned).collect(),
            );
            for var in env.keys() {
                let Some(declared) = variables::find(var) else {
                    wrong.push(format!(
                        "{}: {svc} sets {var}, which is not declared",
                        compose.file
                    ));
                    continue;
                };
                let from_shared = compose.file == "compose.split.yml" && shared.contains(var);
                if !from_shared && !modules.iter().any(|m| declared.read_by(m)) {
                    wrong.push(format!(
                        "{}: {svc} sets {var}, which none of its modules {modules:?} reads \
                         (read by {:?})",
                        compose.file, declared.read_by
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the compose files against app/src/variables.rs:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn secrets_are_the_declared_ones() {
    let declared: Vec<&str> = variables::all()
        .filter(|v| v.secret)
        .map(|v| v.name)
        .collect();
    assert_eq!(
        declared, SECRETS,
        "app/src/variables.rs declares other secrets"
    );
}

/// The two lists of module names the scripts keep (bash and just cannot read Rust): each must be
/// the table of services' (app/src/services.rs), so a new domain cannot be forgotten there.
#[test]
fn the_scripts_lists_of_domains_are_the_tables() {
    let words = |text: &str, prefix: &str| -> Vec<String> {
        let line = text
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with `{prefix}`"));
        line[prefix.len()..]
            .trim()
            .trim_matches('"')
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let with_database: Vec<String> = services::domains()
        .filter(|s| s.database_var.is_some())
        .map(|s| s.name.to_owned())
        .collect();
    let domains: Vec<String> = services::domains().map(|s| s.name.to_owned()).collect();
    let lib = read(".ci/lib.sh");
    let justfile = read("justfile");
    assert_eq!(
        words(&lib, "DB_DOMAINS="),
        with_database,
        ".ci/lib.sh DB_DOMAINS"
    );
    assert_eq!(
        words(&justfile, "domains :="),
        with_database,
        "justfile domains"
    );
    assert_eq!(
        words(&justfile, "features :="),
        domains,
        "justfile features"
    );
}
