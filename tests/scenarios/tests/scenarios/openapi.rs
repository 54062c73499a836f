//! `docs/openapi.yaml` and the components agree: every route a component serves is documented
//! with the same roles, every documented operation is served, and the error codes match.

use api::{ErrorCode, Route};
use scenarios::*;
use std::collections::BTreeMap;
use std::path::Path;

type Operations = BTreeMap<(String, String), Vec<String>>;

fn document() -> serde_yaml_ng::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.yaml");
    let text = std::fs::read_to_string(&path).expect("docs/openapi.yaml is readable");
    serde_yaml_ng::from_str(&text).expect("docs/openapi.yaml is valid YAML")
}

/// (METHOD, path) → roles, from the document.
fn documented() -> Operations {
    let doc = document();
    assert_eq!(doc["openapi"].as_str(), Some("3.1.0"));
    let mut operations = Operations::new();
    for (path, item) in doc["paths"].as_mapping().expect("paths") {
        let path = path.as_str().expect("path").to_string();
        for (method, operation) in item.as_mapping().expect("path item") {
            let method = method.as_str().expect("method").to_ascii_uppercase();
            let roles = operation["x-roles"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{method} {path} lacks x-roles"))
                .iter()
                .map(|r| r.as_str().expect("role").to_string())
                .collect();
            operations.insert((method, path.clone()), roles);
        }
    }
    operations
}

fn table<E>(component: &str, routes: &[Route<E>]) -> Vec<(String, (String, String), Vec<String>)> {
    routes
        .iter()
        .map(|r| {
            let roles = r.roles.iter().map(|role| role.as_str().to_string()).collect();
            (component.to_string(), (r.method.to_string(), r.path.to_string()), roles)
        })
        .collect()
}

/// (component, (METHOD, path), roles) from the components' own route tables.
fn served() -> Vec<(String, (String, String), Vec<String>)> {
    let mut all = table("catalogue", catalogue::ROUTES);
    all.extend(table("filing", filing::ROUTES));
    all.extend(table("prescription", prescription::ROUTES));
    all.extend(table("settlement", settlement::ROUTES));
    all.extend(table("monitoring", monitoring::ROUTES));
    all
}

#[test]
fn every_route_table_compiles_without_conflicts() {
    // `Routes::new` panics on a malformed or conflicting template; a component would trap on
    // its first request, so catch it here.
    api::Routes::new(catalogue::ROUTES);
    api::Routes::new(filing::ROUTES);
    api::Routes::new(prescription::ROUTES);
    api::Routes::new(settlement::ROUTES);
    api::Routes::new(monitoring::ROUTES);
}

#[test]
fn every_served_route_is_documented_with_the_same_roles_and_vice_versa() {
    let documented = documented();
    let served: Operations = served().into_iter().map(|(_, op, roles)| (op, roles)).collect();
    let missing_in_doc: Vec<_> = served.keys().filter(|op| !documented.contains_key(*op)).collect();
    let missing_in_code: Vec<_> = documented.keys().filter(|op| !served.contains_key(*op)).collect();
    assert!(missing_in_doc.is_empty(), "served but not documented: {missing_in_doc:?}");
    assert!(missing_in_code.is_empty(), "documented but not served: {missing_in_code:?}");
    for (operation, roles) in &served {
        assert_eq!(&documented[operation], roles, "roles of {operation:?}");
    }
}

#[test]
fn every_route_is_under_a_trigger_of_its_own_component() {
    let manifest: toml::Table = toml::from_str(&std::fs::read_to_string(manifest_path()).expect("spin.toml")).expect("toml");
    // (route, component); a route ending in `/...` covers what is below it, others only themselves
    let triggers: Vec<(String, String)> = manifest["trigger"]["http"]
        .as_array()
        .expect("http triggers")
        .iter()
        .map(|t| (t["route"].as_str().expect("route").to_string(), t["component"].as_str().expect("component").to_string()))
        .collect();
    let covers = |route: &str, path: &str| match route.strip_suffix("/...") {
        Some(prefix) => path.starts_with(&format!("{prefix}/")),
        None => path == route,
    };
    for (component, (method, path), _) in served() {
        let owner = triggers.iter().filter(|(route, _)| covers(route, &path)).max_by_key(|(route, _)| route.len());
        assert_eq!(owner.map(|(_, c)| c.as_str()), Some(component.as_str()), "{method} {path}");
    }
}

#[test]
fn documented_error_codes_are_exactly_the_api_error_codes() {
    let doc = document();
    let enumerated: Vec<String> = doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
        .as_sequence()
        .expect("code enum")
        .iter()
        .map(|c| c.as_str().expect("code").to_string())
        .collect();
    let known: Vec<String> = ErrorCode::ALL.iter().map(|c| c.as_str().to_string()).collect();
    assert_eq!(enumerated, known);
    for (path, item) in doc["paths"].as_mapping().expect("paths") {
        for (method, operation) in item.as_mapping().expect("path item") {
            for code in operation["x-error-codes"].as_sequence().expect("x-error-codes") {
                let code = code.as_str().expect("code");
                assert!(known.iter().any(|k| k == code), "{method:?} {path:?}: unknown code {code}");
            }
        }
    }
}

#[test]
fn the_manifest_ships_the_secret_the_code_treats_as_development_only() {
    let manifest: toml::Table = toml::from_str(&std::fs::read_to_string(manifest_path()).expect("spin.toml")).expect("toml");
    let secret = &manifest["variables"]["token_secret"];
    assert_eq!(secret["default"].as_str(), Some(api::config::DEV_TOKEN_SECRET));
    assert_eq!(secret["secret"].as_bool(), Some(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_operation_is_served_by_the_running_app() {
    let app = TestApp::start().await;
    let admin = token_for(admin());
    for ((method, path), _) in documented() {
        // Path parameters get a harmless value; the router must match, whatever the handler says.
        let concrete = path.replace("{jti}", "some-token-id");
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let answer = app.send(app.client.request(method.clone(), app.url(&concrete)).bearer_auth(&admin)).await;
        assert_ne!(answer.status, 500, "{method} {path}");
        if answer.content_type() == "application/problem+json" {
            let code = answer.json()["code"].as_str().unwrap_or("").to_string();
            assert!(code != "ROUTE_NOT_FOUND" && code != "METHOD_NOT_ALLOWED", "{method} {path} is not served: {code}");
        } else {
            assert!(answer.status < 400, "{method} {path}: {}", answer.status);
        }
    }
}
