//! Spin's variable model: application variables (`[variables]`) resolved from overrides, the
//! environment or their default, and component variables that are templates over them.

use std::collections::HashMap;

use anyhow::{anyhow, bail};

use crate::manifest::Manifest;

/// The environment prefix Spin's default provider reads (`SPIN_VARIABLE_TOKEN_SECRET`).
const ENV_PREFIX: &str = "SPIN_VARIABLE_";

/// Spin's rule for variable names: lower-case ASCII letters, digits and single underscores,
/// starting with a letter and ending with a letter or digit.
pub(crate) fn validate_name(name: &str) -> Result<(), String> {
    let (Some(first), Some(last)) = (name.bytes().next(), name.bytes().last()) else {
        return Err("must not be empty".into());
    };
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(format!(
            "invalid character {bad:?}: only lower-case letters, digits and underscores are allowed"
        ));
    }
    if !first.is_ascii_lowercase() {
        return Err("must start with a lower-case letter".into());
    }
    if !last.is_ascii_alphanumeric() {
        return Err("must end with a letter or digit".into());
    }
    if name.contains("__") {
        return Err("must not contain consecutive underscores".into());
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Literal(String),
    Variable(String),
}

/// A component variable's value: literal text mixed with `{{ app_variable }}` references.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Template(Vec<Part>);

impl Template {
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            match rest.split_once("{{") {
                None => {
                    parts.push(Part::Literal(rest.to_owned()));
                    rest = "";
                }
                Some((literal, after_open)) => {
                    if !literal.is_empty() {
                        parts.push(Part::Literal(literal.to_owned()));
                    }
                    let (expr, after_close) = after_open
                        .split_once("}}")
                        .ok_or_else(|| anyhow!("unmatched '{{{{' in template {text:?}"))?;
                    let name = expr.trim();
                    validate_name(name).map_err(|e| anyhow!("{{{{ {name} }}}}: {e}"))?;
                    parts.push(Part::Variable(name.to_owned()));
                    rest = after_close;
                }
            }
        }
        Ok(Self(parts))
    }

    /// The application variables this template reads.
    pub(crate) fn references(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|part| match part {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    fn render(&self, app_values: &HashMap<String, String>) -> anyhow::Result<String> {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable(name) => out.push_str(
                    app_values
                        .get(name)
                        .ok_or_else(|| anyhow!("no value for variable {name:?}"))?,
                ),
            }
        }
        Ok(out)
    }
}

/// Why `spin:variables/variables.get` failed; mirrors the WIT `error` cases the host uses.
#[derive(Debug, PartialEq)]
pub(crate) enum VariableError {
    InvalidName(String),
    Undefined(String),
}

/// Every component's variables, resolved once when the app loads (as Spin checks required
/// variables at startup). Later changes to the environment are not seen.
#[derive(Debug, Default)]
pub(crate) struct ResolvedVariables {
    // component id -> component variable -> value
    by_component: HashMap<String, HashMap<String, String>>,
}

impl ResolvedVariables {
    /// Resolves each application variable from, in order: `overrides`, the environment
    /// variable `SPIN_VARIABLE_<NAME>` (read through `env`), its default. Fails on a required
    /// variable that nothing sets.
    pub(crate) fn resolve(
        manifest: &Manifest,
        overrides: &HashMap<String, String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        for name in overrides.keys() {
            if !manifest.variables.contains_key(name) {
                bail!("variable override {name:?} is not declared in the manifest's [variables]");
            }
        }
        let mut app_values = HashMap::new();
        for (name, decl) in &manifest.variables {
            if decl.required && decl.default.is_some() {
                bail!("variable {name:?} cannot be both required and have a default");
            }
            let value = overrides
                .get(name)
                .cloned()
                .or_else(|| env(&format!("{ENV_PREFIX}{}", name.to_ascii_uppercase())))
                .or_else(|| decl.default.clone());
            match value {
                Some(value) => {
                    app_values.insert(name.clone(), value);
                }
                None if decl.required => bail!(
                    "required variable {name:?} is not set: set {ENV_PREFIX}{} or pass an override",
                    name.to_ascii_uppercase()
                ),
                None => bail!("variable {name:?} must be required or have a default"),
            }
        }
        let mut by_component = HashMap::new();
        for (component, templates) in &manifest.component_templates {
            let values = templates
                .iter()
                .map(|(name, template)| Ok((name.clone(), template.render(&app_values)?)))
                .collect::<anyhow::Result<_>>()?;
            by_component.insert(component.clone(), values);
        }
        Ok(Self { by_component })
    }

    /// What `spin:variables/variables.get(name)` returns to `component`.
    pub(crate) fn get(&self, component: &str, name: &str) -> Result<String, VariableError> {
        validate_name(name).map_err(|e| VariableError::InvalidName(format!("{name:?}: {e}")))?;
        self.by_component
            .get(component)
            .and_then(|vars| vars.get(name))
            .cloned()
            .ok_or_else(|| {
                VariableError::Undefined(format!("no variable for {component:?}.{name:?}"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const MANIFEST: &str = r#"
        spin_manifest_version = 2
        [variables]
        region = { default = "420100" }
        secret = { required = true, secret = true }
        [component.c]
        source = "c.wasm"
        [component.c.variables]
        region_code = "{{ region }}"
        auth = "Bearer {{secret}}!"
        plain = "literal"
    "#;

    fn manifest() -> Manifest {
        Manifest::parse(MANIFEST, PathBuf::new()).expect("valid manifest")
    }

    fn env_with(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn resolves_templates_defaults_and_env() {
        let vars = ResolvedVariables::resolve(
            &manifest(),
            &HashMap::new(),
            env_with(&[("SPIN_VARIABLE_SECRET", "s3")]),
        )
        .expect("resolves");
        assert_eq!(vars.get("c", "region_code"), Ok("420100".into()));
        assert_eq!(vars.get("c", "auth"), Ok("Bearer s3!".into()));
        assert_eq!(vars.get("c", "plain"), Ok("literal".into()));
    }

    #[test]
    fn overrides_beat_env_and_env_beats_default() {
        let env = env_with(&[
            ("SPIN_VARIABLE_SECRET", "env"),
            ("SPIN_VARIABLE_REGION", "110000"),
        ]);
        let overrides = HashMap::from([("secret".to_string(), "code".to_string())]);
        let vars = ResolvedVariables::resolve(&manifest(), &overrides, env).expect("resolves");
        assert_eq!(vars.get("c", "auth"), Ok("Bearer code!".into()));
        assert_eq!(vars.get("c", "region_code"), Ok("110000".into()));
    }

    #[test]
    fn unset_required_variable_is_refused() {
        let err = ResolvedVariables::resolve(&manifest(), &HashMap::new(), env_with(&[]))
            .expect_err("secret is required");
        assert!(err.to_string().contains("SPIN_VARIABLE_SECRET"), "{err}");
    }

    #[test]
    fn undeclared_override_is_refused() {
        let overrides = HashMap::from([("nope".to_string(), "x".to_string())]);
        assert!(ResolvedVariables::resolve(&manifest(), &overrides, env_with(&[])).is_err());
    }

    #[test]
    fn get_distinguishes_invalid_and_undefined_names() {
        let vars = ResolvedVariables::resolve(
            &manifest(),
            &HashMap::new(),
            env_with(&[("SPIN_VARIABLE_SECRET", "s")]),
        )
        .expect("resolves");
        assert!(matches!(
            vars.get("c", "Region"),
            Err(VariableError::InvalidName(_))
        ));
        assert!(matches!(
            vars.get("c", "region"),
            Err(VariableError::Undefined(_))
        ));
        assert!(matches!(
            vars.get("other", "plain"),
            Err(VariableError::Undefined(_))
        ));
    }

    #[test]
    fn name_rules_match_spin() {
        for bad in ["", "aX", "1bc", "_x", "x.y", "x_", "a__b", "x-y"] {
            assert!(validate_name(bad).is_err(), "{bad:?} should be invalid");
        }
        for good in ["a", "a1", "token_secret", "x_1_y"] {
            assert!(validate_name(good).is_ok(), "{good:?} should be valid");
        }
    }

    #[test]
    fn template_parsing() {
        assert!(Template::parse("{{ unclosed").is_err());
        assert!(Template::parse("{{ Bad }}").is_err());
        let t = Template::parse("a{{ x }}b{{y}}").expect("valid");
        assert_eq!(t.references().collect::<Vec<_>>(), ["x", "y"]);
    }
}
