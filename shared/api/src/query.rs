//! Query-string parameters: percent-decoded, each problem reported as `400 INVALID_QUERY` with
//! the parameter named in `violations`.

use crate::{ApiError, ApiResult, ErrorCode, Violation};
use chrono::NaiveDate;

pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: &str) -> Self {
        Query(form_urlencoded::parse(raw.as_bytes()).into_owned().collect())
    }

    /// The parameter's value, trimmed; an empty value counts as absent. Repeated: the last.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// The required `admdvs` parameter: a 6-digit region code (GB/T 2260).
    pub fn region(&self) -> ApiResult<&str> {
        self.text("admdvs").filter(|v| rules::registry::is_admdvs(v)).ok_or_else(|| invalid("admdvs", "required: a 6-digit region code"))
    }

    /// The required `admdvs` parameter, a region the caller administers (an agency's own or
    /// below, or any for an admin); else 403 `OUT_OF_REGION`.
    pub fn administered_region(&self, principal: &crate::Principal) -> ApiResult<&str> {
        let admdvs = self.region()?;
        if !rules::registry::may_administer(principal, admdvs) {
            return Err(ApiError::new(ErrorCode::OutOfRegion, format!("the caller does not administer region {admdvs}")));
        }
        Ok(admdvs)
    }

    /// A `YYYY-MM-DD` date.
    pub fn date(&self, name: &str) -> ApiResult<Option<NaiveDate>> {
        self.text(name)
            .map(|v| parse_date(v).ok_or_else(|| invalid(name, "expected a date YYYY-MM-DD")))
            .transpose()
    }

    /// A whole number in `range`.
    pub fn number(&self, name: &str, range: std::ops::RangeInclusive<usize>) -> ApiResult<Option<usize>> {
        self.text(name)
            .map(|v| {
                v.parse::<usize>()
                    .ok()
                    .filter(|n| range.contains(n))
                    .ok_or_else(|| invalid(name, &format!("expected a whole number from {} to {}", range.start(), range.end())))
            })
            .transpose()
    }

    /// The page asked for: `page` from 1 (default 1) and `page_size` from 1 to 100 (default 20).
    pub fn paging(&self) -> ApiResult<Paging> {
        let page = self.number("page", 1..=100_000)?.unwrap_or(1);
        let page_size = self.number("page_size", 1..=100)?.unwrap_or(20);
        Ok(Paging { page, page_size })
    }

    /// One of a fixed set of values.
    pub fn choice<T: Copy>(&self, name: &str, choices: &[(&str, T)]) -> ApiResult<Option<T>> {
        self.text(name)
            .map(|v| {
                choices.iter().find(|(wire, _)| *wire == v).map(|(_, value)| *value).ok_or_else(|| {
                    let names: Vec<&str> = choices.iter().map(|(wire, _)| *wire).collect();
                    invalid(name, &format!("expected one of {}", names.join(", ")))
                })
            })
            .transpose()
    }
}

/// A page of a list: which one, and how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: usize,
    pub page_size: usize,
}

impl Paging {
    /// The total number of `items` and the ones on this page, in one pass.
    pub fn apply<T>(&self, items: impl Iterator<Item = T>) -> (usize, Vec<T>) {
        let skip = self.page.saturating_sub(1).saturating_mul(self.page_size);
        let mut total = 0;
        let mut found = Vec::new();
        for item in items {
            if total >= skip && found.len() < self.page_size {
                found.push(item);
            }
            total += 1;
        }
        (total, found)
    }
}

/// A `400 INVALID_QUERY` naming the parameter.
pub fn invalid(name: &str, reason: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, format!("query parameter {name}: {reason}"))
        .with_violations(vec![Violation { rule: None, field: name.to_string(), reason: reason.to_string() }])
}

/// `YYYY-MM-DD` (as `%Y-%m-%d`), with the format given as items: a date is parsed on every
/// catalogue request, and a format string would be interpreted anew each time.
fn parse_date(text: &str) -> Option<NaiveDate> {
    use chrono::format::{Item, Numeric, Pad, Parsed, parse};
    const YYYY_MM_DD: &[Item<'static>] = &[
        Item::Numeric(Numeric::Year, Pad::Zero),
        Item::Literal("-"),
        Item::Numeric(Numeric::Month, Pad::Zero),
        Item::Literal("-"),
        Item::Numeric(Numeric::Day, Pad::Zero),
    ];
    let mut parsed = Parsed::new();
    parse(&mut parsed, text, YYYY_MM_DD.iter()).ok()?;
    parsed.to_naive_date().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_count_every_item_and_keep_only_their_own() {
        let paging = Query::parse("page=2&page_size=3").paging().expect("valid");
        assert_eq!(paging.apply(1..=8), (8, vec![4, 5, 6]));
        assert_eq!(Query::parse("page=4&page_size=3").paging().expect("valid").apply(1..=8), (8, vec![]));
        assert_eq!(Query::parse("").paging().expect("valid"), Paging { page: 1, page_size: 20 });
        let problem = Query::parse("page_size=101").paging().unwrap_err();
        assert_eq!(problem.violations[0].field, "page_size");
    }

    #[test]
    fn a_date_is_exactly_yyyy_mm_dd() {
        assert_eq!(parse_date("2025-06-01"), NaiveDate::from_ymd_opt(2025, 6, 1));
        for wrong in ["", "2025-02-30", "2025/06/01", "20250601", "2025-06-01 ", "2025 -06-01", "2025-06"] {
            assert_eq!(parse_date(wrong), None, "{wrong:?}");
        }
        assert!(Query::parse("as_of=2025-13-01").date("as_of").is_err());
    }

    proptest::proptest! {
        /// The items say what the format string `%Y-%m-%d` says, for any text.
        #[test]
        fn a_date_parses_as_the_format_string_would(text in "[ 0-9+-]{0,12}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}") {
            proptest::prop_assert_eq!(parse_date(&text), NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok());
        }
    }
}
