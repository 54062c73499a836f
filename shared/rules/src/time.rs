//! Business dates. Every rule that depends on "today" takes the date as an argument; the
//! edges turn the wall clock into a business date in China Standard Time (UTC+8, no DST).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};

/// China Standard Time, the zone every business date in this system is expressed in.
pub fn china_standard_time() -> FixedOffset {
    const EIGHT_HOURS: i32 = 8 * 3600;
    FixedOffset::east_opt(EIGHT_HOURS).expect("UTC+8 is a valid offset")
}

/// The business date (CST) of an instant.
pub fn business_date(instant: DateTime<Utc>) -> NaiveDate {
    instant.with_timezone(&china_standard_time()).date_naive()
}

/// The business date and time of day (CST) of an instant, to the second.
pub fn business_time(instant: DateTime<Utc>) -> NaiveDateTime {
    use chrono::Timelike;
    let local = instant.with_timezone(&china_standard_time()).naive_local();
    local.with_nanosecond(0).unwrap_or(local)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn late_utc_evening_is_already_the_next_day_in_china() {
        let instant = Utc.with_ymd_and_hms(2024, 12, 31, 16, 0, 0).unwrap();
        assert_eq!(business_date(instant), NaiveDate::from_ymd_opt(2025, 1, 1).unwrap());
    }

    #[test]
    fn business_time_is_china_time_to_the_second() {
        let instant = Utc.with_ymd_and_hms(2025, 3, 1, 2, 0, 0).unwrap() + chrono::Duration::nanoseconds(999_999_999);
        let expected = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap().and_hms_opt(10, 0, 0).unwrap();
        assert_eq!(business_time(instant), expected);
        // across midnight UTC+8
        let instant = Utc.with_ymd_and_hms(2024, 12, 31, 16, 30, 15).unwrap() + chrono::Duration::milliseconds(500);
        let expected = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap().and_hms_opt(0, 30, 15).unwrap();
        assert_eq!(business_time(instant), expected);
    }

    #[test]
    fn early_utc_morning_is_the_same_day_in_china() {
        let instant = Utc.with_ymd_and_hms(2024, 12, 31, 15, 59, 59).unwrap();
        assert_eq!(business_date(instant), NaiveDate::from_ymd_opt(2024, 12, 31).unwrap());
    }
}
