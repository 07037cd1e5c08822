//! The table of services: every module a process can mount, with its port, the public route
//! prefixes it owns, the variable through which other processes find it and the variable that
//! names its database.
//!
//! This is the one copy. The gateway routes and proxies by it, the shell validates `--services`
//! and picks a process's default port from it, the HTTP adapters of the domain clients find their
//! service's URL variable and default in it, and the scripts and the compose test read it through
//! `shell services` (or this module). DESIGN.md, "Process interface", is the contract it encodes.

use serde::Serialize;

/// What kind of module a service is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The public edge (`gateway`): checks, then the mounted domains or the reverse proxy.
    Gateway,
    /// A domain crate (`auth`, ..., `worker`), selected by a shell feature of the same name.
    Domain,
    /// The web app's static server (`ui`), on its own listener.
    WebApp,
}

impl Kind {
    /// The word `shell services` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gateway => "gateway",
            Kind::Domain => "domain",
            Kind::WebApp => "webapp",
        }
    }
}

/// A public path prefix a service owns, and the `route` label of the requests the gateway
/// proxies there (one label per prefix keeps the metrics' cardinality fixed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Route {
    /// The prefix (`/tasks`): the path itself and everything below it.
    pub prefix: &'static str,
    /// The metrics label (`/tasks/*`).
    #[serde(skip)]
    pub label: &'static str,
}

/// A [`Route`] whose label is its prefix followed by `/*`.
macro_rules! route {
    ($prefix:literal) => {
        Route {
            prefix: $prefix,
            label: concat!($prefix, "/*"),
        }
    };
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// The module name, as `--services` and the shell's cargo features spell it (`auth`).
    pub name: &'static str,
    /// What kind of module it is.
    pub kind: Kind,
    /// The port it listens on when it runs alone: the default of `PORT` (of `UI_PORT` for the
    /// web app, see [`Service::port_var`]).
    pub port: u16,
    /// The public path prefixes it owns; the gateway routes them to it. Empty for a service with
    /// no public routes.
    pub routes: &'static [Route],
    /// The variable holding its base URL for the processes that call it
    /// (`NOTIFICATION_SERVICE_URL`); `None` when nothing calls it that way.
    pub url_var: Option<&'static str>,
    /// The variable naming its database (`AUTH_DATABASE_URL`); `None` when it has none. A process
    /// that mounts only this domain also accepts a plain `DATABASE_URL`.
    pub database_var: Option<&'static str>,
}

impl Service {
    /// The variable that sets its listening port.
    pub fn port_var(&self) -> &'static str {
        match self.kind {
            Kind::WebApp => "UI_PORT",
            Kind::Gateway | Kind::Domain => "PORT",
        }
    }

    /// Its base URL on this machine (`http://localhost:4004`): the default of [`Self::url_var`].
    pub fn local_url(&self) -> String {
        format!("http://localhost:{}", self.port)
    }
}

/// The gateway.
pub const GATEWAY: Service = Service {
    name: "gateway",
    kind: Kind::Gateway,
    port: 4000,
    routes: &[],
    url_var: None,
    database_var: None,
};

/// The auth domain.
pub const AUTH: Service = Service {
    name: "auth",
    kind: Kind::Domain,
    port: 4001,
    routes: &[route!("/auth")],
    url_var: Some("AUTH_SERVICE_URL"),
    database_var: Some("AUTH_DATABASE_URL"),
};

/// The user domain.
pub const USER: Service = Service {
    name: "user",
    kind: Kind::Domain,
    port: 4002,
    routes: &[route!("/users")],
    url_var: Some("USER_SERVICE_URL"),
    database_var: Some("USER_DATABASE_URL"),
};

/// The task domain.
pub const TASK: Service = Service {
    name: "task",
    kind: Kind::Domain,
    port: 4003,
    routes: &[route!("/tasks")],
    url_var: Some("TASK_SERVICE_URL"),
    database_var: Some("TASK_DATABASE_URL"),
};

/// The notification domain (also called by the worker, at [`Service::url_var`]).
pub const NOTIFICATION: Service = Service {
    name: "notification",
    kind: Kind::Domain,
    port: 4004,
    routes: &[route!("/notifications")],
    url_var: Some("NOTIFICATION_SERVICE_URL"),
    database_var: Some("NOTIFICATION_DATABASE_URL"),
};

/// The queue worker: no routes, no database, only `/health`, `/ready` and `/metrics`.
pub const WORKER: Service = Service {
    name: "worker",
    kind: Kind::Domain,
    port: 4005,
    routes: &[],
    url_var: None,
    database_var: None,
};

/// The web app's static server.
pub const UI: Service = Service {
    name: "ui",
    kind: Kind::WebApp,
    port: 3000,
    routes: &[],
    url_var: None,
    database_var: None,
};

/// Every service, in mount order: the gateway, the domains, the web app.
pub const SERVICES: &[Service] = &[GATEWAY, AUTH, USER, TASK, NOTIFICATION, WORKER, UI];

/// The service called `name`.
pub fn find(name: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.name == name)
}

/// The domains (in mount order).
pub fn domains() -> impl Iterator<Item = &'static Service> {
    SERVICES.iter().filter(|s| s.kind == Kind::Domain)
}

/// The services the gateway routes to: those that own public routes.
pub fn routed() -> impl Iterator<Item = &'static Service> {
    SERVICES.iter().filter(|s| !s.routes.is_empty())
}

/// The variable naming `domain`'s database, when the table gives it one.
pub fn database_var(domain: &str) -> Option<&'static str> {
    find(domain).and_then(|s| s.database_var)
}

/// The column names of [`tsv`], in order.
pub const TSV_COLUMNS: &[&str] = &[
    "name",
    "kind",
    "port",
    "prefixes",
    "url_var",
    "database_var",
];

/// The table as tab-separated values for scripts: a header line ([`TSV_COLUMNS`]), then one line
/// per service; several prefixes are comma-separated and an empty cell is `-`.
pub fn tsv() -> String {
    let mut out = TSV_COLUMNS.join("\t");
    out.push('\n');
    for s in SERVICES {
        let prefixes: Vec<&str> = s.routes.iter().map(|r| r.prefix).collect();
        let cells = [
            s.name.to_owned(),
            s.kind.as_str().to_owned(),
            s.port.to_string(),
            if prefixes.is_empty() {
                "-".to_owned()
            } else {
                prefixes.join(",")
            },
            s.url_var.unwrap_or("-").to_owned(),
            s.database_var.unwrap_or("-").to_owned(),
        ];
        out.push_str(&cells.join("\t"));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn names_and_ports_are_unique() {
        let names: BTreeSet<&str> = SERVICES.iter().map(|s| s.name).collect();
        let ports: BTreeSet<u16> = SERVICES.iter().map(|s| s.port).collect();
        assert_eq!(names.len(), SERVICES.len(), "a name appears twice");
        assert_eq!(ports.len(), SERVICES.len(), "a port appears twice");
    }

    #[test]
    fn every_module_of_the_design_is_present() {
        let names: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "gateway",
                "auth",
                "user",
                "task",
                "notification",
                "worker",
                "ui"
            ]
        );
        let domains: Vec<&str> = domains().map(|s| s.name).collect();
        assert_eq!(domains, ["auth", "user", "task", "notification", "worker"]);
        assert_eq!(find("task"), Some(&TASK));
        assert_eq!(find("tasks"), None);
    }

    #[test]
    fn route_prefixes_are_disjoint() {
        let prefixes: Vec<&str> = SERVICES
            .iter()
            .flat_map(|s| s.routes.iter().map(|r| r.prefix))
            .collect();
        for (i, a) in prefixes.iter().enumerate() {
            assert!(
                a.starts_with('/') && !a.ends_with('/'),
                "`{a}`: a prefix starts with / and does not end with one"
            );
            for b in &prefixes[i + 1..] {
                // `/task` and `/tasks` are disjoint (prefixes match whole segments); `/tasks` and
                // `/tasks/archive` are not.
                let overlap =
                    a == b || b.starts_with(&format!("{a}/")) || a.starts_with(&format!("{b}/"));
                assert!(!overlap, "`{a}` and `{b}` overlap");
            }
        }
        for s in SERVICES {
            for r in s.routes {
                assert_eq!(r.label, format!("{}/*", r.prefix));
            }
        }
    }

    #[test]
    fn variables_follow_the_naming_convention() {
        for s in SERVICES {
            let upper = s.name.to_ascii_uppercase();
            if let Some(var) = s.url_var {
                assert_eq!(var, format!("{upper}_SERVICE_URL"));
            }
            if let Some(var) = s.database_var {
                assert_eq!(var, format!("{upper}_DATABASE_URL"));
                assert_eq!(
                    s.kind,
                    Kind::Domain,
                    "{}: only a domain owns a database",
                    s.name
                );
            }
        }
        // Everything the gateway proxies to has a URL variable for it.
        assert!(routed().all(|s| s.url_var.is_some() && s.kind == Kind::Domain));
        assert_eq!(NOTIFICATION.local_url(), "http://localhost:4004");
        assert_eq!(UI.port_var(), "UI_PORT");
        assert_eq!(AUTH.port_var(), "PORT");
    }

    #[test]
    fn the_tsv_has_a_header_and_a_line_per_service() {
        let tsv = tsv();
        let lines: Vec<Vec<&str>> = tsv.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(lines.len(), SERVICES.len() + 1);
        assert_eq!(lines[0], TSV_COLUMNS);
        assert!(lines.iter().all(|l| l.len() == TSV_COLUMNS.len()));
        assert_eq!(
            lines[1 + 4],
            [
                "notification",
                "domain",
                "4004",
                "/notifications",
                "NOTIFICATION_SERVICE_URL",
                "NOTIFICATION_DATABASE_URL"
            ]
        );
        assert_eq!(lines[1], ["gateway", "gateway", "4000", "-", "-", "-"]);
    }
}
