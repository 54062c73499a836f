//! HTTP routing with Spin's rules. Spin routes with the `routefinder` crate; using the same
//! crate the same way is the surest route to identical precedence: exact segments beat
//! `:name` segments beat wildcards, longer beats shorter, and `/prefix/...` also matches the
//! bare `/prefix`.

use std::fmt;

use anyhow::anyhow;

use crate::manifest::HttpTrigger;

#[derive(Clone, Debug)]
struct RouteHandler {
    component: String,
    /// The route as configured, e.g. `/api/catalogue/...`.
    raw_route: String,
    /// The route with Spin's normalisation (absolute, no trailing slash; `/` becomes empty).
    based_route: String,
    wildcard: bool,
}

/// What a request path matched, with everything Spin derives from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMatch {
    pub component: String,
    pub raw_route: String,
    pub based_route: String,
    /// The part of the path the trailing wildcard matched (`spin-path-info`), empty for exact routes.
    pub path_info: String,
    /// `:name` captures, in route order.
    pub named: Vec<(String, String)>,
}

impl RouteMatch {
    /// `spin-component-route`: the raw route without its `/...` suffix.
    pub fn component_route(&self) -> &str {
        self.raw_route
            .strip_suffix("/...")
            .unwrap_or(&self.raw_route)
    }
}

/// A route as Spin prints it at startup: `/api/catalogue (wildcard)`.
pub struct RouteDisplay<'a> {
    pub component: &'a str,
    path: &'a str,
    wildcard: bool,
}

impl fmt::Display for RouteDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path)?;
        if self.wildcard {
            f.write_str(" (wildcard)")?;
        }
        Ok(())
    }
}

#[derive(Debug)]
pub struct Router {
    inner: routefinder::Router<RouteHandler>,
}

/// Spin's `sanitize_with_base` with the base `/`: make absolute, drop one trailing slash.
fn based(raw_route: &str) -> String {
    let absolute = if raw_route.starts_with('/') {
        raw_route.to_owned()
    } else {
        format!("/{raw_route}")
    };
    match absolute.strip_suffix('/') {
        Some(stripped) => stripped.to_owned(),
        None => absolute,
    }
}

impl Router {
    /// Builds the router. As in Spin, when two triggers have the same route the later one
    /// wins; the returned list names the shadowed ones so callers can warn as Spin does.
    pub fn build(triggers: &[HttpTrigger]) -> anyhow::Result<(Self, Vec<HttpTrigger>)> {
        let mut unique: Vec<&HttpTrigger> = Vec::new();
        let mut shadowed = Vec::new();
        for trigger in triggers {
            if let Some(slot) = unique.iter_mut().find(|t| t.route == trigger.route) {
                shadowed.push((*slot).clone());
                *slot = trigger;
            } else {
                unique.push(trigger);
            }
        }

        let mut inner = routefinder::Router::new();
        for trigger in unique {
            let based_route = based(&trigger.route);
            let (spec, wildcard) = if let Some(prefix) = based_route.strip_suffix("/...") {
                (format!("{prefix}/*"), true)
            } else {
                (based_route.clone(), based_route.ends_with("/*"))
            };
            let handler = RouteHandler {
                component: trigger.component.clone(),
                raw_route: trigger.route.clone(),
                based_route,
                wildcard,
            };
            inner.add(spec.as_str(), handler).map_err(|e| {
                anyhow!(
                    "invalid route {:?} of component {:?}: {e}",
                    trigger.route,
                    trigger.component
                )
            })?;
        }
        Ok((Self { inner }, shadowed))
    }

    /// The best route for `path` (no query string), or `None` (Spin answers 404).
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let found = self.inner.best_match(path)?;
        let handler = found.handler();
        let captures = found.captures();
        // Spin's `trailing_wildcard`: the captured rest, with a leading slash and the
        // request's trailing slash preserved.
        let path_info = captures
            .wildcard()
            .map(|rest| match (rest.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".to_owned(),
                (false, false) => format!("/{rest}"),
                (false, true) => format!("/{rest}/"),
            })
            .unwrap_or_default();
        Some(RouteMatch {
            component: handler.component.clone(),
            raw_route: handler.raw_route.clone(),
            based_route: handler.based_route.clone(),
            path_info,
            named: captures
                .iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        })
    }

    /// Routes in Spin's startup listing order.
    pub fn routes(&self) -> impl Iterator<Item = RouteDisplay<'_>> {
        self.inner.iter().map(|(_, h)| {
            let path = if h.wildcard {
                h.based_route
                    .strip_suffix("/...")
                    .or_else(|| h.based_route.strip_suffix("/*"))
                    .unwrap_or(&h.based_route)
            } else {
                &h.based_route
            };
            RouteDisplay {
                component: &h.component,
                path: if path.is_empty() { "/" } else { path },
                wildcard: h.wildcard,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        let triggers: Vec<_> = routes
            .iter()
            .map(|(component, route)| HttpTrigger {
                route: route.to_string(),
                component: component.to_string(),
            })
            .collect();
        Router::build(&triggers).expect("valid routes").0
    }

    fn component(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.component)
    }

    #[test]
    fn exact_routes() {
        let r = router(&[("foo", "/foo"), ("foobar", "/foo/bar")]);
        assert_eq!(component(&r, "/foo").as_deref(), Some("foo"));
        assert_eq!(component(&r, "/foo/bar").as_deref(), Some("foobar"));
        assert_eq!(component(&r, "/foo/baz"), None);
        assert_eq!(component(&r, "/"), None);
    }

    #[test]
    fn wildcard_matches_prefix_and_bare_prefix() {
        let r = router(&[("cat", "/api/catalogue/...")]);
        assert_eq!(component(&r, "/api/catalogue").as_deref(), Some("cat"));
        assert_eq!(component(&r, "/api/catalogue/").as_deref(), Some("cat"));
        assert_eq!(
            component(&r, "/api/catalogue/drugs/1").as_deref(),
            Some("cat")
        );
        assert_eq!(component(&r, "/api/catalogues"), None);
        assert_eq!(component(&r, "/api"), None);
    }

    #[test]
    fn root_wildcard_catches_everything() {
        let r = router(&[("all", "/...")]);
        for path in ["/", "/foo/bar", "/abc/"] {
            assert_eq!(component(&r, path).as_deref(), Some("all"), "{path}");
        }
    }

    #[test]
    fn longest_wildcard_wins_regardless_of_order() {
        for routes in [
            [
                ("one", "/one/..."),
                ("two", "/one/two/..."),
                ("three", "/one/two/three/..."),
            ],
            [
                ("three", "/one/two/three/..."),
                ("two", "/one/two/..."),
                ("one", "/one/..."),
            ],
        ] {
            let r = router(&routes);
            assert_eq!(
                component(&r, "/one/two/three/four").as_deref(),
                Some("three")
            );
            assert_eq!(component(&r, "/one/two/x").as_deref(), Some("two"));
            assert_eq!(component(&r, "/one").as_deref(), Some("one"));
        }
    }

    #[test]
    fn exact_beats_wildcard() {
        let r = router(&[("wild", "/..."), ("exact", "/one")]);
        assert_eq!(component(&r, "/one").as_deref(), Some("exact"));
        assert_eq!(component(&r, "/one/x").as_deref(), Some("wild"));
    }

    #[test]
    fn later_duplicate_wins() {
        let triggers = [("a", "/x"), ("b", "/x")].map(|(c, r)| HttpTrigger {
            route: r.into(),
            component: c.into(),
        });
        let (r, shadowed) = Router::build(&triggers).expect("valid");
        assert_eq!(component(&r, "/x").as_deref(), Some("b"));
        assert_eq!(shadowed[0].component, "a");
    }

    #[test]
    fn path_info_and_component_route() {
        let r = router(&[("c", "/foo/...")]);
        let m = r.route("/foo/bar").expect("match");
        assert_eq!(m.path_info, "/bar");
        assert_eq!(m.based_route, "/foo/...");
        assert_eq!(m.component_route(), "/foo");
        assert_eq!(r.route("/foo").expect("match").path_info, "");
        assert_eq!(r.route("/foo/").expect("match").path_info, "/");
        assert_eq!(r.route("/foo/a/b/").expect("match").path_info, "/a/b/");
    }

    #[test]
    fn named_segments() {
        let r = router(&[("user", "/users/:id/..."), ("me", "/users/me")]);
        let m = r.route("/users/42/orders").expect("match");
        assert_eq!(m.component, "user");
        assert_eq!(m.named, [("id".to_string(), "42".to_string())]);
        assert_eq!(m.path_info, "/orders");
        assert_eq!(component(&r, "/users/me").as_deref(), Some("me"));
    }

    #[test]
    fn listing_matches_spin() {
        let r = router(&[("cat", "/api/catalogue/..."), ("root", "/")]);
        let listed: Vec<String> = r
            .routes()
            .map(|d| format!("{}: {d}", d.component))
            .collect();
        assert!(
            listed.contains(&"cat: /api/catalogue (wildcard)".to_string()),
            "{listed:?}"
        );
        assert!(listed.contains(&"root: /".to_string()), "{listed:?}");
    }
}
