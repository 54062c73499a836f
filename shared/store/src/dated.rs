//! Region data published with an effective date (a prescription policy, a settlement policy):
//! each publication is appended to the region's log and never rewritten, and the version in
//! force on a date is the latest effective one, a later publication for the same date being a
//! correction that wins.

use crate::log::{Log, LogCache};
use crate::{KeyValue, StoreResult};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// `policy` in force from `effective_from`, with who published it and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dated<T> {
    pub effective_from: NaiveDate,
    #[serde(flatten)]
    pub policy: T,
    pub published_by: String,
    pub published_at: String,
}

/// What an agency sends to publish `policy`: it and the date it applies from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publication<T> {
    pub effective_from: NaiveDate,
    #[serde(flatten)]
    pub policy: T,
}

impl<T> Publication<T> {
    /// The version to append, published by `by` at `at`.
    pub fn dated(self, by: String, at: String) -> Dated<T> {
        Dated { effective_from: self.effective_from, policy: self.policy, published_by: by, published_at: at }
    }
}

/// The version in force on `date` among `versions` in publication order: the latest
/// `effective_from` on or before `date`; among equal dates, the last published.
pub fn in_force_on<'p, T>(versions: impl IntoIterator<Item = &'p Dated<T>>, date: NaiveDate) -> Option<&'p Dated<T>>
where
    T: 'p,
{
    versions.into_iter().filter(|v| v.effective_from <= date).fold(None, |best: Option<&Dated<T>>, v| match best {
        Some(b) if b.effective_from > v.effective_from => Some(b),
        _ => Some(v),
    })
}

/// Region `admdvs`'s version in force on `date` (issue 14: regions are a hierarchy): its own,
/// else its city's, else its province's, with the level it came from. `log` names a level's log;
/// one read per level looked at when the instance's copies are current.
pub async fn in_force_for<'k, K: KeyValue + 'k, T: Clone + DeserializeOwned>(
    cache: &LogCache<Dated<T>>,
    admdvs: &str,
    date: NaiveDate,
    log: impl Fn(&str) -> Log<'k, K>,
) -> StoreResult<Option<(String, Dated<T>)>> {
    for level in rules::registry::region_chain(admdvs) {
        let reader = cache.read(&log(&level)).await?;
        if let Some(found) = in_force_on(reader.records().map(|(_, v)| v), date) {
            return Ok(Some((level, found.clone())));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::fixtures::date;

    #[test]
    fn the_version_in_force_is_the_latest_effective_one() {
        let version = |d, days: u32| Dated { effective_from: d, policy: days, published_by: "agency:420100".into(), published_at: String::new() };
        let versions = [version(date(2025, 1, 1), 30), version(date(2025, 6, 1), 60), version(date(2025, 3, 1), 45)];
        assert_eq!(in_force_on(&versions, date(2024, 12, 31)), None);
        assert_eq!(in_force_on(&versions, date(2025, 2, 1)).map(|v| v.policy), Some(30));
        assert_eq!(in_force_on(&versions, date(2025, 4, 1)).map(|v| v.policy), Some(45));
        assert_eq!(in_force_on(&versions, date(2025, 7, 1)).map(|v| v.policy), Some(60));
        // a correction for the same date, published later, wins
        let corrected = [version(date(2025, 1, 1), 30), version(date(2025, 1, 1), 20)];
        assert_eq!(in_force_on(&corrected, date(2025, 2, 1)).map(|v| v.policy), Some(20));
    }
}
