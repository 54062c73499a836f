//! E-prescriptions (医保电子处方中心, rules P1–P8): the checks on a prescription's lines,
//! whether a paper prescription is still accepted, traceability codes, and the life of an
//! uploaded prescription as one state machine whose status (`rx_stas_codg`) is derived at the
//! moment it is asked for, so expiry needs no background job.
//!
//! - [`precheck`]: the prescription's fields and the pre-check against registry, catalogue,
//!   filing and region facts.
//! - [`dispensing`]: what a pharmacy records when it dispenses.

pub mod dispensing;
pub mod precheck;
pub mod returns;

pub use dispensing::{Dispensing, dispensing_problems};
pub use precheck::{LONGEST_SUPPLY_DAYS, Prescription, RegionPolicy, precheck_problems, shape_problems};

use chrono::{Days, Months, NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};

/// The day from which dual-channel and separate-payment prescriptions must be electronic (P1).
pub fn electronic_only_from() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 1).expect("a valid date")
}

/// Why a paper prescription is refused on `date` (P1): from 2025-01-01 only an approved
/// regional extension of at most three months keeps paper acceptable. `extension_until` is the
/// region's approved last day, if any.
pub fn paper_refusal(date: NaiveDate, extension_until: Option<NaiveDate>) -> Option<String> {
    let start = electronic_only_from();
    if date < start {
        return None;
    }
    let longest = start.checked_add_months(Months::new(3)).and_then(|d| d.pred_opt()).unwrap_or(start);
    match extension_until {
        Some(until) if until > longest => Some(format!("the region's extension to {until} exceeds the 3 months allowed (to {longest})")),
        Some(until) if date <= until => None,
        _ => Some(format!("paper prescriptions are refused from {start}; send it through the e-prescription center")),
    }
}

/// The end of a prescription's validity (`vali_end_time`, P8): the last second of the
/// `vali_days`-th day, counting the upload day as the first.
pub fn validity_end(uploaded: NaiveDateTime, vali_days: u32) -> NaiveDateTime {
    let last_day = uploaded.date().checked_add_days(Days::new(u64::from(vali_days.max(1) - 1))).unwrap_or(NaiveDate::MAX);
    last_day.and_time(NaiveTime::from_hms_opt(23, 59, 59).expect("a valid time"))
}

/// A prescription line's payment route, as the catalogue and the region's lists say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// On the region's separate-payment list (单独支付).
    SeparatePayment,
    /// Any other covered drug.
    Ordinary,
}

/// Rule P3: separate-payment drugs and ordinary drugs may not share one prescription. Returns the
/// indexes of the lines to move to another prescription (the minority kind), empty when the
/// prescription is of one kind.
pub fn mixed_lines(kinds: &[LineKind]) -> Vec<usize> {
    let separate = kinds.iter().filter(|k| **k == LineKind::SeparatePayment).count();
    if separate == 0 || separate == kinds.len() {
        return Vec::new();
    }
    let minority = if separate * 2 <= kinds.len() { LineKind::SeparatePayment } else { LineKind::Ordinary };
    kinds.iter().enumerate().filter(|(_, k)| **k == minority).map(|(i, _)| i).collect()
}

/// Whether a drug traceability code (药品追溯码, `drug_trac_codg`) is well formed: the 20 digits
/// printed on current packs (P7).
pub fn is_traceability_code(code: &str) -> bool {
    code.len() == 20 && code.bytes().all(|b| b.is_ascii_digit())
}

/// `rx_stas_codg`, the prescription's validity (national interface): 1 valid, 2 expired (its
/// validity ended), 3 revoked by the prescriber, 4 voided (rejected at the pharmacist's review:
/// it can never be dispensed). Whether it was used is a field of its own ([`RxUseStatus`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RxStatus {
    #[serde(rename = "1")]
    Valid,
    #[serde(rename = "2")]
    Expired,
    #[serde(rename = "3")]
    Revoked,
    #[serde(rename = "4")]
    Voided,
}

/// `rx_used_stas_codg`, whether the prescription was used (dispensed): 1 unused, 2 used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RxUseStatus {
    #[serde(rename = "1")]
    Unused,
    #[serde(rename = "2")]
    Used,
}

/// `rx_chk_stas_codg`, the pharmacist's review (P6): 1 approved, 2 rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReviewStatus {
    #[serde(rename = "1")]
    Approved,
    #[serde(rename = "2")]
    Rejected,
}

impl ReviewStatus {
    pub fn of(approved: bool) -> ReviewStatus {
        if approved { ReviewStatus::Approved } else { ReviewStatus::Rejected }
    }
}

/// Where an uploaded prescription is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// Uploaded; waiting for the pharmacist's review (P6).
    Uploaded,
    /// Reviewed and approved by a pharmacist of the fixed pharmacy (P6).
    Approved { phar_code: String },
    /// Rejected at review, with the pharmacist's opinion (P6).
    Rejected { phar_code: String, opinion: String },
    /// Claimed by one pharmacy's dispensing (its number), which alone may complete or abandon
    /// it: the claim is what keeps two pharmacists from both dispensing (P8).
    Dispensing { phar_code: String, dispensing_no: String },
    /// Dispensed (P7); nothing more can happen to it (P8).
    Dispensed { phar_code: String, dispensing_no: String },
    /// Revoked by the prescribing physician before dispensing, with the reason.
    Revoked { reason: String },
}

/// What is done to a prescription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Approve { phar_code: String },
    Reject { phar_code: String, opinion: String },
    /// Claims an approved prescription for a dispensing.
    StartDispensing { phar_code: String, dispensing_no: String },
    /// Completes the claimed dispensing: every pack recorded.
    CompleteDispensing { dispensing_no: String },
    /// Gives the claim back (a pack turned out to be taken): approved again.
    AbandonDispensing { dispensing_no: String },
    Revoke { reason: String },
}

/// Why a step is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepRefusal {
    #[error("the prescription expired at {0}")]
    Expired(NaiveDateTime),
    #[error("the prescription is {0} and cannot take this step")]
    Illegal(&'static str),
    #[error("a {0} is required")]
    Missing(&'static str),
}

impl Stage {
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Uploaded => "uploaded",
            Stage::Approved { .. } => "approved",
            Stage::Rejected { .. } => "rejected",
            Stage::Dispensing { .. } => "being dispensed",
            Stage::Dispensed { .. } => "dispensed",
            Stage::Revoked { .. } => "revoked",
        }
    }

    /// `rx_stas_codg` at `now`, given the validity end (`vali_end_time`, P8): revoked and
    /// rejected are final; otherwise valid until the end, expired after. A dispensing claimed
    /// in time may still be completed, so it shows as valid.
    pub fn status(&self, valid_until: NaiveDateTime, now: NaiveDateTime) -> RxStatus {
        match self {
            Stage::Revoked { .. } => RxStatus::Revoked,
            Stage::Rejected { .. } => RxStatus::Voided,
            Stage::Dispensing { .. } => RxStatus::Valid,
            Stage::Uploaded | Stage::Approved { .. } | Stage::Dispensed { .. } if now > valid_until => RxStatus::Expired,
            Stage::Uploaded | Stage::Approved { .. } | Stage::Dispensed { .. } => RxStatus::Valid,
        }
    }

    /// `rx_used_stas_codg`: used once dispensed (P8), whatever its validity.
    pub fn use_status(&self) -> RxUseStatus {
        match self {
            Stage::Dispensed { .. } => RxUseStatus::Used,
            _ => RxUseStatus::Unused,
        }
    }

    /// The stage after `step` at `now` (P6: review before dispensing; P8: nothing after expiry,
    /// revocation or dispensing; revocation only before dispensing; a claimed dispensing is
    /// completed or abandoned only by its own number).
    pub fn take(&self, step: &Step, valid_until: NaiveDateTime, now: NaiveDateTime) -> Result<Stage, StepRefusal> {
        let expired = now > valid_until;
        let required = |text: &str, what| if text.trim().is_empty() { Err(StepRefusal::Missing(what)) } else { Ok(text.trim().to_string()) };
        match (self, step) {
            (Stage::Dispensed { .. } | Stage::Revoked { .. }, _) => Err(StepRefusal::Illegal(self.name())),
            (Stage::Dispensing { phar_code, dispensing_no: claimed }, Step::CompleteDispensing { dispensing_no }) if claimed == dispensing_no => {
                Ok(Stage::Dispensed { phar_code: phar_code.clone(), dispensing_no: claimed.clone() })
            }
            (Stage::Dispensing { phar_code, dispensing_no: claimed }, Step::AbandonDispensing { dispensing_no }) if claimed == dispensing_no => {
                Ok(Stage::Approved { phar_code: phar_code.clone() })
            }
            (Stage::Dispensing { .. }, _) => Err(StepRefusal::Illegal(self.name())),
            (_, Step::Revoke { reason }) => Ok(Stage::Revoked { reason: required(reason, "reason")? }),
            (_, _) if expired => Err(StepRefusal::Expired(valid_until)),
            (Stage::Uploaded, Step::Approve { phar_code }) => Ok(Stage::Approved { phar_code: phar_code.clone() }),
            (Stage::Uploaded, Step::Reject { phar_code, opinion }) => {
                Ok(Stage::Rejected { phar_code: phar_code.clone(), opinion: required(opinion, "review opinion")? })
            }
            (Stage::Approved { .. }, Step::StartDispensing { phar_code, dispensing_no }) => {
                Ok(Stage::Dispensing { phar_code: phar_code.clone(), dispensing_no: required(dispensing_no, "dispensing number")? })
            }
            _ => Err(StepRefusal::Illegal(self.name())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::date;
    use proptest::prelude::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
        date(y, m, d).and_hms_opt(h, 0, 0).expect("valid time")
    }

    #[test]
    fn paper_is_refused_from_2025_unless_a_short_extension_covers_the_day() {
        // rule P1
        assert_eq!(paper_refusal(date(2024, 12, 31), None), None);
        assert!(paper_refusal(date(2025, 1, 1), None).is_some());
        assert_eq!(paper_refusal(date(2025, 3, 31), Some(date(2025, 3, 31))), None);
        assert!(paper_refusal(date(2025, 4, 1), Some(date(2025, 3, 31))).is_some());
        // an extension beyond three months is not a valid approval
        assert!(paper_refusal(date(2025, 2, 1), Some(date(2025, 4, 1))).is_some_and(|r| r.contains("3 months")));
    }

    #[test]
    fn validity_ends_at_the_last_second_of_the_last_day() {
        // rule P8: the upload day counts as the first day
        let end = |y, m, d| date(y, m, d).and_hms_opt(23, 59, 59).expect("valid time");
        assert_eq!(validity_end(at(2025, 3, 1, 10), 3), end(2025, 3, 3));
        assert_eq!(validity_end(at(2025, 3, 1, 10), 1), end(2025, 3, 1));
        assert_eq!(validity_end(at(2025, 2, 27, 23), 3), end(2025, 3, 1));
        // a validity of 0 days (refused by the shape check) still ends on the upload day
        assert_eq!(validity_end(at(2025, 3, 1, 10), 0), end(2025, 3, 1));
    }

    #[test]
    fn separate_payment_and_ordinary_drugs_are_not_mixed() {
        // rule P3
        use LineKind::{Ordinary as O, SeparatePayment as S};
        assert!(mixed_lines(&[S, S]).is_empty());
        assert!(mixed_lines(&[O]).is_empty());
        assert!(mixed_lines(&[]).is_empty());
        assert_eq!(mixed_lines(&[S, O, O]), [0]);
        assert_eq!(mixed_lines(&[S, S, O]), [2]);
    }

    #[test]
    fn traceability_codes_are_twenty_digits() {
        assert!(is_traceability_code("81234567890123456789"));
        for bad in ["8123456789012345678", "812345678901234567890", "8123456789012345678X", ""] {
            assert!(!is_traceability_code(bad), "{bad}");
        }
    }

    #[test]
    fn review_comes_before_dispensing_and_nothing_follows_it() {
        let until = at(2025, 3, 4, 0);
        let now = at(2025, 3, 2, 9);
        let approve = Step::Approve { phar_code: "F1".into() };
        let dispense = Step::StartDispensing { phar_code: "F1".into(), dispensing_no: "D-1".into() };
        let complete = Step::CompleteDispensing { dispensing_no: "D-1".into() };
        // rule P6
        assert_eq!(Stage::Uploaded.take(&dispense, until, now), Err(StepRefusal::Illegal("uploaded")));
        let approved = Stage::Uploaded.take(&approve, until, now).unwrap();
        let dispensing = approved.take(&dispense, until, now).unwrap();
        // rule P8: while one dispensing holds it, no other starts, completes, or revokes it
        let other = Step::CompleteDispensing { dispensing_no: "D-2".into() };
        assert_eq!(dispensing.take(&dispense, until, now), Err(StepRefusal::Illegal("being dispensed")));
        assert_eq!(dispensing.take(&other, until, now), Err(StepRefusal::Illegal("being dispensed")));
        assert_eq!(dispensing.take(&Step::Revoke { reason: "x".into() }, until, now), Err(StepRefusal::Illegal("being dispensed")));
        // abandoning gives it back; a claim made in time may be completed after the validity end
        assert_eq!(dispensing.take(&Step::AbandonDispensing { dispensing_no: "D-1".into() }, until, now), Ok(approved.clone()));
        let dispensed = dispensing.take(&complete, until, at(2025, 3, 5, 0)).unwrap();
        // issue 14: validity and use are apart; dispensed is used, still valid until its end
        assert_eq!((dispensed.status(until, now), dispensed.use_status()), (RxStatus::Valid, RxUseStatus::Used));
        assert_eq!((dispensed.status(until, at(2025, 3, 5, 0)), dispensing.use_status()), (RxStatus::Expired, RxUseStatus::Unused));
        // rule P8: dispensed once; revocation only before
        assert_eq!(dispensed.take(&dispense, until, now), Err(StepRefusal::Illegal("dispensed")));
        assert_eq!(dispensed.take(&Step::Revoke { reason: "x".into() }, until, now), Err(StepRefusal::Illegal("dispensed")));
        // expiry is derived, and stops dispensing but not revocation
        let later = at(2025, 3, 4, 1);
        assert_eq!(approved.status(until, later), RxStatus::Expired);
        assert_eq!(approved.take(&dispense, until, later), Err(StepRefusal::Expired(until)));
        assert_eq!(approved.take(&Step::Revoke { reason: " ".into() }, until, later), Err(StepRefusal::Missing("reason")));
        let revoked = approved.take(&Step::Revoke { reason: "开错剂量".into() }, until, later).unwrap();
        assert_eq!(revoked.status(until, later), RxStatus::Revoked);
        let rejected = Stage::Uploaded.take(&Step::Reject { phar_code: "F1".into(), opinion: "".into() }, until, now);
        assert_eq!(rejected, Err(StepRefusal::Missing("review opinion")));
        // a rejection voids it: never valid again, never dispensed
        let rejected = Stage::Uploaded.take(&Step::Reject { phar_code: "F1".into(), opinion: "剂量超说明书".into() }, until, now).unwrap();
        assert_eq!((rejected.status(until, now), rejected.use_status()), (RxStatus::Voided, RxUseStatus::Unused));
        assert_eq!(rejected.take(&dispense, until, now), Err(StepRefusal::Illegal("rejected")));
    }

    proptest! {
        /// Whatever steps are taken, in any order and at any time, a prescription is dispensed
        /// at most once, only after approval and before its validity ends.
        #[test]
        fn a_prescription_is_dispensed_at_most_once_and_only_in_time(steps in proptest::collection::vec((0..6usize, 0..96i64), 0..30)) {
            let until = at(2025, 3, 4, 0);
            let mut now = at(2025, 3, 1, 0);
            let mut stage = Stage::Uploaded;
            let mut dispensings = 0;
            for (step, hours) in steps {
                now += chrono::Duration::hours(hours);
                let number = format!("D-{}", hours % 2);
                let step = match step {
                    0 => Step::Approve { phar_code: "F1".into() },
                    1 => Step::Reject { phar_code: "F1".into(), opinion: "o".into() },
                    2 => Step::StartDispensing { phar_code: "F1".into(), dispensing_no: number },
                    3 => Step::CompleteDispensing { dispensing_no: number },
                    4 => Step::AbandonDispensing { dispensing_no: number },
                    _ => Step::Revoke { reason: "r".into() },
                };
                if let Ok(next) = stage.take(&step, until, now) {
                    if let Stage::Dispensing { .. } = next {
                        let was_approved = matches!(stage, Stage::Approved { .. });
                        prop_assert!(was_approved, "claimed from {:?}", stage);
                        prop_assert!(now <= until);
                    }
                    if let Stage::Dispensed { .. } = next {
                        let was_claimed = matches!(stage, Stage::Dispensing { .. });
                        prop_assert!(was_claimed, "dispensed from {:?}", stage);
                        dispensings += 1;
                    }
                    stage = next;
                }
            }
            prop_assert!(dispensings <= 1);
        }
    }
}
