//! The parts of a Spin manifest (version 2) this host needs; everything else is ignored.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail, ensure};
use serde::Deserialize;

use crate::variables::{Template, validate_name};

/// The only key-value store label Spin defines without a runtime config file.
pub(crate) const DEFAULT_STORE: &str = "default";

#[derive(Debug, Deserialize)]
struct RawManifest {
    spin_manifest_version: u32,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, ComponentDecl>,
}

#[derive(Debug, Default, Deserialize)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<HttpTrigger>,
}

/// An application variable from `[variables]`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct VariableDecl {
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    /// Spin only uses this to keep the value out of logs; so does this host.
    #[serde(default)]
    pub secret: bool,
}

/// One `[[trigger.http]]` entry.
#[derive(Clone, Debug, Deserialize)]
pub struct HttpTrigger {
    pub route: String,
    pub component: String,
}

/// One `[component.<id>]` table.
#[derive(Clone, Debug, Deserialize)]
pub struct ComponentDecl {
    pub source: PathBuf,
    pub description: Option<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    /// Component variable name -> template over application variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    pub build: Option<BuildDecl>,
}

/// `[component.<id>.build]`, used by `serve --build`.
#[derive(Clone, Debug, Deserialize)]
pub struct BuildDecl {
    pub command: String,
    pub workdir: Option<PathBuf>,
}

/// A validated manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The directory `source` paths and the default SQLite path are relative to.
    pub dir: PathBuf,
    pub variables: BTreeMap<String, VariableDecl>,
    pub http_triggers: Vec<HttpTrigger>,
    pub components: BTreeMap<String, ComponentDecl>,
    /// Parsed `[component.<id>.variables]` templates.
    pub(crate) component_templates: HashMap<String, HashMap<String, Template>>,
}

impl Manifest {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading manifest {}", path.display()))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, dir).with_context(|| format!("invalid manifest {}", path.display()))
    }

    pub fn parse(text: &str, dir: PathBuf) -> anyhow::Result<Self> {
        let raw: RawManifest = toml::from_str(text)?;
        ensure!(
            raw.spin_manifest_version == 2,
            "spin_manifest_version {} is not supported (only 2)",
            raw.spin_manifest_version
        );
        for name in raw.variables.keys() {
            validate_name(name).map_err(|e| anyhow::anyhow!("variable {name:?}: {e}"))?;
        }
        for trigger in &raw.trigger.http {
            ensure!(
                raw.component.contains_key(&trigger.component),
                "route {:?} refers to component {:?}, which is not defined",
                trigger.route,
                trigger.component
            );
        }
        let mut component_templates = HashMap::new();
        for (id, component) in &raw.component {
            for label in &component.key_value_stores {
                // Spin refuses to start when a label has no backing store; only `default`
                // exists without a runtime config.
                ensure!(
                    label == DEFAULT_STORE,
                    "component {id:?} uses key-value store {label:?}, but only {DEFAULT_STORE:?} is defined"
                );
            }
            let mut templates = HashMap::new();
            for (name, text) in &component.variables {
                validate_name(name)
                    .map_err(|e| anyhow::anyhow!("component {id:?} variable {name:?}: {e}"))?;
                let template = Template::parse(text)
                    .with_context(|| format!("component {id:?} variable {name:?}"))?;
                if let Some(unknown) = template
                    .references()
                    .find(|r| !raw.variables.contains_key(*r))
                {
                    bail!(
                        "component {id:?} variable {name:?} refers to undeclared variable {unknown:?}"
                    );
                }
                templates.insert(name.clone(), template);
            }
            component_templates.insert(id.clone(), templates);
        }
        Ok(Self {
            dir,
            variables: raw.variables,
            http_triggers: raw.trigger.http,
            components: raw.component,
            component_templates,
        })
    }

    /// The component's Wasm file, resolved against the manifest directory.
    pub fn source_path(&self, component: &ComponentDecl) -> PathBuf {
        self.dir.join(&component.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        spin_manifest_version = 2
        [application]
        name = "t"
        [variables]
        secret = { default = "s", secret = true }
        [[trigger.http]]
        route = "/api/..."
        component = "api"
        [component.api]
        source = "target/api.wasm"
        key_value_stores = ["default"]
        [component.api.variables]
        token = "Bearer {{ secret }}"
        [component.api.build]
        command = "cargo build"
    "#;

    #[test]
    fn parses_the_parts_the_host_needs() {
        let manifest = Manifest::parse(BASE, PathBuf::from("/app")).expect("valid");
        assert_eq!(manifest.http_triggers[0].route, "/api/...");
        let api = &manifest.components["api"];
        assert_eq!(
            manifest.source_path(api),
            PathBuf::from("/app/target/api.wasm")
        );
        assert_eq!(
            api.build.as_ref().map(|b| b.command.as_str()),
            Some("cargo build")
        );
        assert!(manifest.variables["secret"].secret);
    }

    #[test]
    fn refuses_unknown_component() {
        let text = BASE.replace("component = \"api\"", "component = \"nope\"");
        let err = Manifest::parse(&text, PathBuf::new()).expect_err("unknown component");
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn refuses_template_over_undeclared_variable() {
        let text = BASE.replace("{{ secret }}", "{{ missing }}");
        let err = Manifest::parse(&text, PathBuf::new()).expect_err("undeclared variable");
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn refuses_undefined_store_label() {
        let text = BASE.replace("[\"default\"]", "[\"cache\"]");
        let err = Manifest::parse(&text, PathBuf::new()).expect_err("unknown store");
        assert!(err.to_string().contains("cache"), "{err}");
    }
}
