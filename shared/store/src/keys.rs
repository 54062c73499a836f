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

/// One chunk (number `index`, from 0) of a catalogue edition's entries: a JSON array of a few
/// hundred `CatalogueEntry`s in edition order, so an instance loads an edition in a handful of
/// reads. `edition` is the edition id (a sha256 hex digest). Written first by the catalogue
/// component's `POST /api/catalogue/editions`; never rewritten (an id names fixed content).
pub fn catalogue_chunk(edition: &str, index: u32) -> String {
    format!("catalogue:edition:{edition}:chunk:{index}")
}

/// The manifest of a catalogue edition (its summary: name, effective date, counts, number of
/// chunks). Written after every chunk is stored, so a manifest never names a missing chunk.
pub fn catalogue_manifest(edition: &str) -> String {
    format!("catalogue:edition:{edition}")
}

/// The list of every imported edition (summaries, ordered by effective date): the one small
/// value the catalogue cache reloads when the version changes. Written after the manifest.
pub fn catalogue_editions() -> String {
    "catalogue:editions".to_string()
}

/// Counter bumped (`increment`) after the editions list changes; every catalogue query reads
/// it with `increment(key, 0)` to validate its in-instance cache in one small read.
pub fn catalogue_version() -> String {
    "catalogue:version".to_string()
}

/// The catalogue's log (see [`crate::log`]): every imported or withdrawn edition, regional
/// list version and confidential standards record, in the order they were written. Small
/// records only; an edition's entries are in its chunks.
pub const CATALOGUE_LOG: &str = "catalogue";

/// The counter from which a log's appends take their sequence numbers (`increment` by 1).
pub fn log_head(log: &str) -> String {
    format!("{log}:log:head")
}

/// The record in slot `seq` of a log, written once by the append that took the slot.
pub fn log_record(log: &str, seq: i64) -> String {
    format!("{log}:log:{seq}")
}

/// Bumped after each completed append to a log; readers validate their in-instance copy of
/// the log by reading it (`increment(key, 0)`): one small read per request.
pub fn log_version(log: &str) -> String {
    format!("{log}:version")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_namespaced_by_capability() {
        assert_eq!(revoked_token("abc"), "auth:revoked:abc");
        assert_eq!(health_probe("filing"), "health:probe:filing");
        assert_eq!(catalogue_chunk("ab12", 3), "catalogue:edition:ab12:chunk:3");
        assert_eq!(catalogue_manifest("ab12"), "catalogue:edition:ab12");
        assert_eq!(catalogue_editions(), "catalogue:editions");
        assert_eq!(catalogue_version(), "catalogue:version");
    }
}
