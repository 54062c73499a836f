//! Query-string parameters: percent-decoded, each problem reported as `400 INVALID_QUERY` with
//! the parameter named in `violations`.

use api::{ApiError, ApiResult, ErrorCode, Violation};
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

    /// A `YYYY-MM-DD` date.
    pub fn date(&self, name: &str) -> ApiResult<Option<NaiveDate>> {
        self.text(name)
            .map(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| invalid(name, "expected a date YYYY-MM-DD")))
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
    /// The total number of `items` and the ones on this page.
    pub fn apply<T>(&self, items: impl Iterator<Item = T> + Clone) -> (usize, Vec<T>) {
        let skip = (self.page - 1).saturating_mul(self.page_size);
        (items.clone().count(), items.skip(skip).take(self.page_size).collect())
    }
}

pub fn invalid(name: &str, reason: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, format!("query parameter {name}: {reason}"))
        .with_violations(vec![Violation { rule: None, field: name.to_string(), reason: reason.to_string() }])
}
