//! The dependency rules of DESIGN.md, checked over `cargo metadata` so a forbidden edge fails CI.

use std::process::Command;

use serde_json::Value;

fn metadata() -> Value {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn deps(pkg: &Value) -> Vec<(String, bool)> {
    pkg["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["name"].as_str().unwrap().to_owned(), d["kind"].is_null()))
        .collect()
}

#[test]
fn no_domain_crate_depends_on_another_domain_crate() {
    let meta = metadata();
    let packages = meta["packages"].as_array().unwrap();
    let domains: Vec<&Value> = packages
        .iter()
        .filter(|p| p["manifest_path"].as_str().unwrap().contains("/domains/"))
        .collect();
    assert!(!domains.is_empty(), "found the domain crates");
    let names: Vec<&str> = domains
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for d in &domains {
        let me = d["name"].as_str().unwrap();
        for (dep, _) in deps(d) {
            assert!(
                !(names.contains(&dep.as_str()) && dep != me),
                "{me} depends on the domain crate {dep}"
            );
        }
    }
}

#[test]
fn the_platform_crates_depend_on_no_domain() {
    let meta = metadata();
    let packages = meta["packages"].as_array().unwrap();
    let domain_names: Vec<&str> = packages
        .iter()
        .filter(|p| p["manifest_path"].as_str().unwrap().contains("/domains/"))
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in packages.iter().filter(|p| {
        matches!(
            p["name"].as_str(),
            Some("tessera-app" | "tessera-contracts")
        )
    }) {
        for (dep, _) in deps(p) {
            assert!(
                !domain_names.contains(&dep.as_str()),
                "{} depends on {dep}",
                p["name"]
            );
        }
    }
}

#[test]
fn wire_crates_keep_server_dependencies_optional() {
    // The web app builds the contracts and each domain's `wire` module for wasm: actix, diesel
    // and the platform crate must not be unconditional dependencies there.
    let meta = metadata();
    let server_only = [
        "actix-web",
        "diesel",
        "diesel-async",
        "tessera-app",
        "fred",
        "tokio",
    ];
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let is_wire = name == "tessera-contracts"
            || p["manifest_path"].as_str().unwrap().contains("/domains/");
        if !is_wire {
            continue;
        }
        for d in p["dependencies"].as_array().unwrap() {
            let dep = d["name"].as_str().unwrap();
            let normal = d["kind"].is_null();
            let optional = d["optional"].as_bool().unwrap_or(false);
            assert!(
                !(normal && !optional && server_only.contains(&dep)),
                "{name} always depends on {dep}"
            );
        }
    }
}

#[test]
fn only_the_gateway_feature_brings_the_gateway_dependencies() {
    // A shell built without `gateway` must not carry the gateway: its dependencies are optional
    // in the platform crate and its `gateway` feature is the one that enables them.
    let meta = metadata();
    let packages = meta["packages"].as_array().unwrap();
    let app = packages
        .iter()
        .find(|p| p["name"] == "tessera-app")
        .unwrap();
    for dep in ["actix-governor", "utoipa-swagger-ui"] {
        let d = app["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == dep && d["kind"].is_null())
            .unwrap_or_else(|| panic!("tessera-app no longer depends on {dep}"));
        assert_eq!(d["optional"], true, "tessera-app always depends on {dep}");
        let enabled_by: Vec<&str> = app["features"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, deps)| {
                deps.as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x == &format!("dep:{dep}"))
            })
            .map(|(feature, _)| feature.as_str())
            .collect();
        assert_eq!(enabled_by, ["gateway"], "{dep}");
    }
    let shell = packages.iter().find(|p| p["name"] == "shell").unwrap();
    assert_eq!(
        shell["features"]["gateway"],
        serde_json::json!(["tessera-app/gateway"])
    );
    assert_eq!(
        shell["features"]["ui"],
        serde_json::json!(["tessera-app/ui"])
    );
}
