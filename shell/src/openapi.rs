//! The OpenAPI documents of the platform.
//!
//! Each domain describes its own routes (`#[utoipa::path]` in its `routes.rs`); this module
//! merges them and applies, in one place, what holds for every operation:
//!
//! - operations tagged [`INTERNAL_TAG`] (service-to-service routes such as
//!   `POST /notifications/send`, which the gateway never routes) go to the internal document
//!   (`shell openapi --internal`), everything else to the public one (`shell openapi`, the
//!   committed `openapi.json`, what the gateway serves at `/openapi.json`);
//! - the operational routes `/health`, `/ready` and `/metrics` (tag `operations`);
//! - the error responses every operation of a kind can give, as problem+json: 400/413/415 where
//!   there is a JSON body, 401 where there is a token, 408 on public operations with a body (the
//!   gateway's body read deadline), and on every public operation 429 (the gateway's rate limit)
//!   and 503 (a dependency or a service is down); an operation's own description of a status
//!   wins;
//! - the `X-Request-Id` header on every response, `Retry-After` on 429/503 and
//!   `WWW-Authenticate` on 401;
//! - the security schemes, and only the schemas and tags a document uses.
//!
//! Nothing here reads the environment: every build prints the same documents.

use std::collections::{BTreeMap, BTreeSet};

use tessera_app::contracts::problem::PROBLEM_JSON;
use tessera_app::module::Domain;
use utoipa::openapi::content::Content;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::{Operation, OperationBuilder, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{Components, ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::tag::Tag;
use utoipa::openapi::{HttpMethod, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr};

/// The tag of service-to-service operations; they appear only in the internal document.
pub const INTERNAL_TAG: &str = "internal";
/// The security scheme of user routes: an access token from `POST /auth/login`.
pub const BEARER_SCHEME: &str = "bearer";
/// The security scheme of internal routes: a service token signed with `INTERNAL_JWT_SECRET`.
pub const SERVICE_TOKEN_SCHEME: &str = "serviceToken";
/// The tag of `/health`, `/ready` and `/metrics`.
const OPERATIONS_TAG: &str = "operations";
/// Tags in the order a reader meets the services; others follow alphabetically.
const TAG_ORDER: [&str; 6] = [
    "auth",
    "users",
    "tasks",
    "notifications",
    OPERATIONS_TAG,
    INTERNAL_TAG,
];

/// The public document of `domains`: every route a client of the gateway can call.
pub fn openapi(domains: &[&Domain]) -> OpenApi {
    let (mut public, _) = split(merged(domains));
    public.info = InfoBuilder::new()
        .title("Tessera API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "The Tessera task platform, as a client of the gateway sees it.\n\n\
             - Authenticate with `Authorization: Bearer <accessToken>` from `POST /auth/login` \
               (Swagger UI: \"Authorize\" with the bare token).\n\
             - JSON bodies with camelCase fields; unknown fields are refused (400). Every error, \
               the framework's included, is `application/problem+json` (RFC 9457).\n\
             - Every response carries `X-Request-Id`; a client may send its own (1 to 64 of \
               `[A-Za-z0-9._-]`).\n\
             - Every route can answer 429 (rate limited, with `Retry-After`) and 503 (a \
               dependency is unavailable).",
        ))
        .build();
    add_operational_routes(&mut public);
    finish(&mut public, true);
    public
}

/// The internal document of `domains`: the service-to-service routes the gateway never routes,
/// authenticated with a service token.
pub fn internal_openapi(domains: &[&Domain]) -> OpenApi {
    let (_, mut internal) = split(merged(domains));
    internal.info = InfoBuilder::new()
        .title("Tessera internal API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Service-to-service routes. They are never routed by the gateway: services call \
             each other directly with a service token (HS256 JWT signed with \
             `INTERNAL_JWT_SECRET`, `typ: service`, `iss`/`aud` `tessera-internal`, at most five \
             minutes). Errors are `application/problem+json` (RFC 9457).",
        ))
        .build();
    finish(&mut internal, false);
    internal
}

/// Every domain's document merged into one.
fn merged(domains: &[&Domain]) -> OpenApi {
    let mut doc = OpenApiBuilder::new().build();
    for d in domains {
        doc.merge((d.openapi)());
    }
    doc
}

/// The operation slots of a path item, with their method names.
fn operations_mut(item: &mut PathItem) -> [(&'static str, &mut Option<Operation>); 8] {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
    ]
}

fn is_internal(op: &Operation) -> bool {
    op.tags
        .as_ref()
        .is_some_and(|tags| tags.iter().any(|t| t == INTERNAL_TAG))
}

fn has_operations(item: &mut PathItem) -> bool {
    operations_mut(item).iter().any(|(_, op)| op.is_some())
}

/// Splits `doc` into (public, internal) by the operations' tags; both keep every component and
/// tag until [`finish`] prunes them.
fn split(doc: OpenApi) -> (OpenApi, OpenApi) {
    let mut public = doc.clone();
    let mut internal = doc;
    public.paths.paths.retain(|_, item| {
        for (_, op) in operations_mut(item) {
            if op.as_ref().is_some_and(is_internal) {
                *op = None;
            }
        }
        has_operations(item)
    });
    internal.paths.paths.retain(|_, item| {
        for (_, op) in operations_mut(item) {
            if op.as_ref().is_some_and(|o| !is_internal(o)) {
                *op = None;
            }
        }
        has_operations(item)
    });
    (public, internal)
}

fn string_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A response header (OpenAPI 3.1 headers cannot be marked required in utoipa 5; the
/// descriptions say when each is always present).
fn header(description: &str) -> Header {
    let mut h = Header::new(string_schema());
    h.description = Some(description.to_owned());
    h
}

fn request_id_header() -> Header {
    header("The request id (the client's, if it sent a valid one); always present")
}

fn retry_after_header(always: bool) -> Header {
    let mut h = Header::new(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0)),
    );
    h.description = Some(
        if always {
            "Seconds until a retry can succeed; always present"
        } else {
            "Seconds until a retry may succeed, when known"
        }
        .to_owned(),
    );
    h
}

/// A problem+json response.
fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            Content::new(Some(Ref::from_schema_name("Problem"))),
        )
        .build()
}

/// The shared error responses, by component name: (status, name, response).
fn shared_responses() -> Vec<(&'static str, &'static str, Response)> {
    let mut unauthorized =
        problem("Missing, invalid or expired token (`WWW-Authenticate: Bearer` on token errors)");
    unauthorized
        .headers
        .insert("WWW-Authenticate".to_owned(), header("`Bearer`"));
    let mut too_many = problem("Rate limited: wait `Retry-After` seconds");
    too_many
        .headers
        .insert("Retry-After".to_owned(), retry_after_header(true));
    let mut unavailable =
        problem("A dependency (database, Redis, a downstream service) is unavailable");
    unavailable
        .headers
        .insert("Retry-After".to_owned(), retry_after_header(false));
    vec![
        (
            "400",
            "BadRequest",
            problem("Malformed JSON, unknown field, or a value that fails validation"),
        ),
        ("401", "Unauthorized", unauthorized),
        (
            "408",
            "RequestTimeout",
            problem("The body did not arrive within the gateway's read deadline (10 s by default)"),
        ),
        (
            "413",
            "PayloadTooLarge",
            problem("The body is larger than the limit (64 KiB by default)"),
        ),
        (
            "415",
            "UnsupportedMediaType",
            problem("The body is not `application/json`"),
        ),
        ("429", "TooManyRequests", too_many),
        ("503", "ServiceUnavailable", unavailable),
    ]
}

/// `/health`, `/ready` and `/metrics`, which every process (and the gateway) serves.
fn add_operational_routes(doc: &mut OpenApi) {
    let json = |schema: ObjectBuilder| Content::new(Some(schema));
    let health = ObjectBuilder::new()
        .property(
            "status",
            string_schema()
                .enum_values(Some(["ok"]))
                .description(Some("Always `ok`")),
        )
        .required("status")
        .property(
            "service",
            string_schema().description(Some(
                "The mounted modules joined with `+`, or `tessera` for all of them",
            )),
        )
        .required("service")
        .property(
            "version",
            string_schema().description(Some("The build's version")),
        )
        .required("version");
    let ready = ObjectBuilder::new()
        .property("status", string_schema().enum_values(Some(["ready"])))
        .required("status")
        .property(
            "checks",
            ObjectBuilder::new()
                .additional_properties(Some(string_schema().enum_values(Some(["ok"]))))
                .description(Some("Every readiness check by name, each `ok`")),
        )
        .required("checks");
    let operation = |summary: &str, description: &str| {
        OperationBuilder::new()
            .tag(OPERATIONS_TAG)
            .summary(Some(summary))
            .description(Some(description))
    };
    let routes = [
        (
            "/health",
            operation("Liveness", "200 while the process runs.")
                .operation_id(Some("health"))
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description("The process is alive")
                        .content("application/json", json(health))
                        .build(),
                ),
        ),
        (
            "/ready",
            operation(
                "Readiness",
                "200 when every database, Redis and (on the gateway) downstream service this \
                 process needs answers; 503 naming the failing checks otherwise.",
            )
            .operation_id(Some("ready"))
            .response(
                "200",
                ResponseBuilder::new()
                    .description("Ready to serve")
                    .content("application/json", json(ready))
                    .build(),
            ),
        ),
        (
            "/metrics",
            operation(
                "Prometheus metrics",
                "Prometheus text format: `http_requests_total` and \
                 `http_request_duration_seconds` by `method`, `route` (the route pattern) and \
                 `status`, plus pool and queue gauges.",
            )
            .operation_id(Some("metrics"))
            .response(
                "200",
                ResponseBuilder::new()
                    .description("The metrics")
                    .content("text/plain", Content::new(Some(string_schema())))
                    .build(),
            ),
        ),
    ];
    for (path, op) in routes {
        doc.paths
            .paths
            .insert(path.to_owned(), PathItem::new(HttpMethod::Get, op.build()));
    }
}

/// Applies the rules of the module documentation to `doc`: error responses, headers, security
/// schemes, pruned components and tags. `public` adds the gateway's 429 and 503 everywhere.
fn finish(doc: &mut OpenApi, public: bool) {
    let shared = shared_responses();
    for item in doc.paths.paths.values_mut() {
        for (_, op) in operations_mut(item) {
            let Some(op) = op.as_mut() else { continue };
            let has_body = op.request_body.is_some();
            let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let has_token = op.security.as_ref().is_some_and(|s| !s.is_empty());
            for (status, name, _) in &shared {
                let applies = match *status {
                    "400" => has_body || has_params,
                    "401" => has_token,
                    "408" => has_body && public,
                    "413" | "415" => has_body,
                    "429" => public,
                    "503" => true,
                    _ => false,
                };
                if applies {
                    op.responses
                        .responses
                        .entry((*status).to_owned())
                        .or_insert_with(|| Ref::from_response_name(*name).into());
                }
            }
            for (status, response) in op.responses.responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                response
                    .headers
                    .entry("X-Request-Id".to_owned())
                    .or_insert_with(request_id_header);
                match status.as_str() {
                    "401" if has_token => {
                        response
                            .headers
                            .entry("WWW-Authenticate".to_owned())
                            .or_insert_with(|| header("`Bearer`"));
                    }
                    "429" => {
                        response
                            .headers
                            .entry("Retry-After".to_owned())
                            .or_insert_with(|| retry_after_header(true));
                    }
                    "503" => {
                        response
                            .headers
                            .entry("Retry-After".to_owned())
                            .or_insert_with(|| retry_after_header(false));
                    }
                    _ => {}
                }
            }
        }
    }

    let components = doc.components.get_or_insert_with(Components::default);
    components.responses.clear();
    for (_, name, mut response) in shared {
        response
            .headers
            .insert("X-Request-Id".to_owned(), request_id_header());
        components
            .responses
            .insert(name.to_owned(), RefOr::T(response));
    }
    components.security_schemes.clear();
    if public {
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("JWT".to_owned());
        bearer.description = Some(
            "The `accessToken` of `POST /auth/login` or `POST /auth/refresh` (15 minutes by \
             default)."
                .to_owned(),
        );
        components
            .security_schemes
            .insert(BEARER_SCHEME.to_owned(), SecurityScheme::Http(bearer));
    } else {
        let mut service = Http::new(HttpAuthScheme::Bearer);
        service.bearer_format = Some("JWT".to_owned());
        service.description = Some(
            "A service token: HS256 JWT signed with `INTERNAL_JWT_SECRET`, `typ: service`, \
             `sub` the calling service, `iss` and `aud` `tessera-internal`, at most five \
             minutes. User access tokens are refused."
                .to_owned(),
        );
        components.security_schemes.insert(
            SERVICE_TOKEN_SCHEME.to_owned(),
            SecurityScheme::Http(service),
        );
    }
    prune_components(doc);
    order_tags(doc);
}

/// The schema names `value` refers to.
fn schema_refs(value: &serde_json::Value, into: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if let (true, Some(name)) = (
                    k == "$ref",
                    v.as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/")),
                ) {
                    into.insert(name.to_owned());
                }
                schema_refs(v, into);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| schema_refs(v, into)),
        _ => {}
    }
}

/// Drops the schemas no operation of `doc` reaches (the internal document's request types have
/// no place in the public one, and the other way round).
fn prune_components(doc: &mut OpenApi) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let mut reached = BTreeSet::new();
    schema_refs(
        &serde_json::to_value(&doc.paths).unwrap_or_default(),
        &mut reached,
    );
    schema_refs(
        &serde_json::to_value(&components.responses).unwrap_or_default(),
        &mut reached,
    );
    let mut pending: Vec<String> = reached.iter().cloned().collect();
    while let Some(name) = pending.pop() {
        let Some(schema) = components.schemas.get(&name) else {
            continue;
        };
        let mut found = BTreeSet::new();
        schema_refs(
            &serde_json::to_value(schema).unwrap_or_default(),
            &mut found,
        );
        for f in found {
            if reached.insert(f.clone()) {
                pending.push(f);
            }
        }
    }
    components.schemas.retain(|name, _| reached.contains(name));
}

/// Keeps the tags `doc`'s operations use, in [`TAG_ORDER`], adding a description for
/// `operations`.
fn order_tags(doc: &mut OpenApi) {
    let mut used = BTreeSet::new();
    for item in doc.paths.paths.values_mut() {
        for (_, op) in operations_mut(item) {
            if let Some(tags) = op.as_ref().and_then(|o| o.tags.as_ref()) {
                used.extend(tags.iter().cloned());
            }
        }
    }
    let mut known: BTreeMap<String, Tag> = doc
        .tags
        .take()
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect();
    let rank = |name: &str| {
        TAG_ORDER
            .iter()
            .position(|t| *t == name)
            .unwrap_or(TAG_ORDER.len())
    };
    let mut names: Vec<String> = used.into_iter().collect();
    names.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    let tags = names
        .into_iter()
        .map(|name| {
            known.remove(&name).unwrap_or_else(|| {
                let mut tag = Tag::new(name.as_str());
                if name == OPERATIONS_TAG {
                    tag.description = Some(
                        "Liveness, readiness and metrics of every process and the gateway"
                            .to_owned(),
                    );
                }
                tag
            })
        })
        .collect();
    doc.tags = Some(tags);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operations(doc: &OpenApi) -> Vec<(String, Operation)> {
        let mut ops = Vec::new();
        for (path, item) in &doc.paths.paths {
            let mut item = item.clone();
            for (method, op) in operations_mut(&mut item) {
                if let Some(op) = op.take() {
                    ops.push((format!("{} {path}", method.to_uppercase()), op));
                }
            }
        }
        ops
    }

    #[test]
    fn every_public_operation_documents_429_and_503_as_problem_json() {
        let doc = openapi(&crate::compiled_domains());
        for (name, op) in operations(&doc) {
            for status in ["429", "503"] {
                assert!(
                    op.responses.responses.contains_key(status),
                    "{name} lacks {status}"
                );
            }
        }
    }

    #[test]
    fn every_operation_id_is_unique() {
        let doc = openapi(&crate::compiled_domains());
        let mut seen = BTreeSet::new();
        for (name, op) in operations(&doc) {
            let id = op.operation_id.unwrap_or_default();
            assert!(!id.is_empty(), "{name} has no operationId");
            assert!(
                seen.insert(id.clone()),
                "{name}: duplicate operationId {id}"
            );
        }
    }

    #[test]
    fn every_schema_a_document_refers_to_exists() {
        for doc in [
            openapi(&crate::compiled_domains()),
            internal_openapi(&crate::compiled_domains()),
        ] {
            let json = serde_json::to_value(&doc).unwrap_or_default();
            let mut refs = BTreeSet::new();
            schema_refs(&json, &mut refs);
            for name in refs {
                assert!(
                    json["components"]["schemas"].get(&name).is_some(),
                    "dangling $ref to {name}"
                );
            }
        }
    }
}
