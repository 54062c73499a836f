//! Route tables. Each component declares its endpoints in one `static` table — method, path
//! (OpenAPI template syntax, `/api/filings/{id}`), the roles allowed, the body limit — so the
//! roles of every endpoint are visible in one place and the OpenAPI test can compare the table
//! with `docs/openapi.yaml`.

use http::Method;
use rules::role::Role;

/// Bodies above this are refused with 413 unless a route raises its own limit.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;

#[derive(Debug)]
pub struct Route<E> {
    pub method: Method,
    pub path: &'static str,
    pub roles: &'static [Role],
    pub endpoint: E,
    pub body_limit: usize,
}

impl<E> Route<E> {
    pub const fn new(method: Method, path: &'static str, roles: &'static [Role], endpoint: E) -> Self {
        Self { method, path, roles, endpoint, body_limit: DEFAULT_BODY_LIMIT }
    }

    pub const fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Whether `role` may call this route. `Public` in the list opens it to everyone.
    pub fn allows(&self, role: Role) -> bool {
        self.roles.contains(&Role::Public) || self.roles.contains(&role)
    }
}

/// What matching a request against a table found.
pub enum Match<E: 'static> {
    Found { route: &'static Route<E>, params: Vec<(String, String)> },
    /// The path exists but not with this method; carries the methods that do exist.
    WrongMethod(Vec<Method>),
    NotFound,
}

/// A compiled route table (built once per component instance).
pub struct Routes<E: 'static> {
    table: &'static [Route<E>],
    /// Path template → indexes into `table` (one per method).
    router: matchit::Router<Vec<usize>>,
}

impl<E> Routes<E> {
    /// Compiles a table. Panics on a malformed or conflicting template: tables are static
    /// code, and a unit test per component builds its table so the panic shows up in CI.
    pub fn new(table: &'static [Route<E>]) -> Self {
        let mut by_path: Vec<(&str, Vec<usize>)> = Vec::new();
        for (index, route) in table.iter().enumerate() {
            match by_path.iter_mut().find(|(path, _)| *path == route.path) {
                Some((_, indexes)) => indexes.push(index),
                None => by_path.push((route.path, vec![index])),
            }
        }
        let mut router = matchit::Router::new();
        for (path, indexes) in by_path {
            if let Err(error) = router.insert(path, indexes) {
                panic!("route {path} cannot be registered: {error}");
            }
        }
        Self { table, router }
    }

    pub fn table(&self) -> &'static [Route<E>] {
        self.table
    }

    pub fn find(&self, method: &Method, path: &str) -> Match<E> {
        let Ok(matched) = self.router.at(path) else {
            return Match::NotFound;
        };
        let params = matched.params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let table = self.table;
        match matched.value.iter().map(|&i| &table[i]).find(|r| r.method == method) {
            Some(route) => Match::Found { route, params },
            None => Match::WrongMethod(matched.value.iter().map(|&i| self.table[i].method.clone()).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static TABLE: &[Route<u8>] = &[
        Route::new(Method::GET, "/api/x/items/{id}", &[Role::Patient], 1),
        Route::new(Method::POST, "/api/x/items/{id}", &[Role::Admin], 2).body_limit(10),
        Route::new(Method::GET, "/api/x/status", &[Role::Public], 3),
    ];

    #[test]
    fn finds_by_method_and_extracts_params() {
        let routes = Routes::new(TABLE);
        match routes.find(&Method::POST, "/api/x/items/42") {
            Match::Found { route, params } => {
                assert_eq!(route.endpoint, 2);
                assert_eq!(route.body_limit, 10);
                assert_eq!(params, vec![("id".to_string(), "42".to_string())]);
            }
            _ => panic!("expected a match"),
        }
    }

    #[test]
    fn reports_wrong_method_with_the_allowed_ones() {
        let routes = Routes::new(TABLE);
        match routes.find(&Method::DELETE, "/api/x/items/42") {
            Match::WrongMethod(allowed) => assert_eq!(allowed, vec![Method::GET, Method::POST]),
            _ => panic!("expected wrong method"),
        }
        assert!(matches!(routes.find(&Method::GET, "/api/x/nothing"), Match::NotFound));
    }

    #[test]
    fn public_routes_allow_every_role() {
        assert!(TABLE[2].allows(Role::Pharmacist));
        assert!(!TABLE[0].allows(Role::Public));
        assert!(TABLE[0].allows(Role::Patient));
    }
}
