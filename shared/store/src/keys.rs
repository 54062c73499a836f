//! The key layout: every key the app reads or writes is built here, so the layout can be read
//! in one place (and in `ARCHITECTURE.md`, which mirrors this module).
//!
//! Conventions:
//! - Segments are separated by `:`; the first segment names the owning capability.
//! - Variable segments are codes validated by `rules::role::is_code` (or hashes), so they never
//!   contain `:`; ID numbers never appear in keys.
//! - Nothing on a request path lists keys: every lookup is by a key computed from the request.

/// Marks a revoked token, by its `jti`. Written by the catalogue component's
/// `DELETE /api/auth/tokens/{jti}`, read by every component on every authenticated request.
pub fn revoked_token(jti: &str) -> String {
    format!("auth:revoked:{jti}")
}

/// A scratch key the store health check writes, reads back and deletes, per component.
pub fn health_probe(component: &str) -> String {
    format!("health:probe:{component}")
}

/// The counter the store health check increments, per component (proves atomics work).
pub fn health_counter(component: &str) -> String {
    format!("health:count:{component}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_namespaced_by_capability() {
        assert_eq!(revoked_token("abc"), "auth:revoked:abc");
        assert_eq!(health_probe("filing"), "health:probe:filing");
    }
}
