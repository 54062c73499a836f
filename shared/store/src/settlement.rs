//! Settlements: each one numbered versions (`store::versions`) under an id derived from the
//! settling pharmacy and its own settlement number, so a retried request lands on the same
//! record; a claim per prescription so it is settled at most once; each region's settlement
//! policy log; what a settlement adds to its region's ledgers. The person's annual totals are
//! `store::year`.

use crate::dated::Dated;
use crate::ledger::{Dimension, EventKind, Figures, Intents, Rows, add_figures, ledger_id, prescriber_row};
use crate::log::Log;
use crate::versions::{Claim, Latest, Raced, Seen, Slots, Versions};
use crate::{KeyValue, StoreResult, keys};
use chrono::NaiveDate;
use rules::settlement::{Breakdown, SettlementPolicy, Treatment};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a settlement holds so that it is settled at most once (`keys::settle_holders`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held<'a> {
    /// A prescription (P8, S8).
    Prescription(&'a str),
    /// A receipt of a purchase reimbursed manually (S4, 零星报销): counted once, whatever the
    /// claim number it comes under.
    Receipt { fixmedins_code: &'a str, receipt_no: &'a str },
}

impl Held<'_> {
    fn key(&self) -> String {
        match self {
            Held::Prescription(hi_rxno) => format!("rx:{hi_rxno}"),
            Held::Receipt { fixmedins_code, receipt_no } => format!("receipt:{fixmedins_code}:{receipt_no}"),
        }
    }
}

/// A region's settlement policy from a date on.
pub type SettlementPolicyVersion = Dated<SettlementPolicy>;

/// One priced line as the settling party sent it. A pharmacy settling a prescription sends
/// only the price (the quantity is what it dispensed); an institution settling an outpatient
/// visit also sends the quantity and the specification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricedLine {
    pub med_list_codg: String,
    /// The actual price per unit.
    pub unit_price: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drug_cnt: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drug_spec: Option<String>,
    /// A visit's statement that the outpatient list's own restriction of the drug is met,
    /// where the list gives it as text only (C9); a prescription's is its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restriction_attested: Option<bool>,
    /// A visit's unit of `drug_cnt` and `unit_price` (支, 盒…); without it, the unit its
    /// `drug_spec` names. A prescription's is its own (S1 across units, issue 14 item 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drug_dosunt: Option<String>,
    /// How many units of the payment standard one line unit holds (a 盒 of 10 支: 10), for a
    /// line in another unit than its standard's; for a prescription, only where its line states
    /// none. Requests stored before these fields existed read as before, and a request without
    /// them is stored (and compared with its retry) exactly as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_size: Option<u32>,
}

/// What the settling party asked for; a retry must ask for the same: a pharmacy's settlement
/// of a prescription (`hi_rxno`) or an institution's of an outpatient visit (`psn_no`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementRequest {
    pub setl_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hi_rxno: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psn_no: Option<String>,
    pub lines: Vec<PricedLine>,
    /// The personal account's balance as read from the patient's credential.
    pub acct_balance: Decimal,
    /// A visit's diagnoses (ICD-10), against which the outpatient list's own restrictions are
    /// checked (C9); a prescription's are its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnoses: Option<Vec<String>>,
    /// A visit's or a manual reimbursement's prescribing physician (S4: a registration names
    /// who may prescribe its drug); a prescription's is its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dr_code: Option<String>,
    /// An agency's manual reimbursement (零星报销, S4) of a purchase the patient paid in full
    /// because it could not be settled online: where, when and on which receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reimbursement: Option<Reimbursement>,
}

impl SettlementRequest {
    /// The calendar year whose totals count a settlement of this request made on `setl_date`:
    /// a reimbursed purchase's (S4: counted in the year it was bought), else `setl_date`'s.
    pub fn counted_year(&self, setl_date: NaiveDate) -> i32 {
        use chrono::Datelike;
        self.reimbursement.as_ref().map_or(setl_date, |r| r.purchased_on).year()
    }
}

/// A purchase paid in full (垫付) and reimbursed manually by an agency (S4, 零星报销).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reimbursement {
    /// The designated institution the purchase was made at.
    pub fixmedins_code: String,
    /// The day of the purchase: its year's totals count it, its day's policy, catalogue and
    /// registration decide it.
    pub purchased_on: NaiveDate,
    /// The receipt's (invoice's) number at that institution: reimbursed once.
    pub receipt_no: String,
}

/// Where a settlement stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum SettlementStage {
    /// Computed as attempt `attempt` from version `year_version` of the person's year
    /// (`store::year`); its accrual is counted by writing the version after that one.
    Settling {
        attempt: u32,
        #[serde(default)]
        year_version: i64,
    },
    Settled { attempt: u32 },
    /// Reversed (冲正/退费): the accrual of `attempt` given back.
    Reversed { attempt: u32, reason: String, reversed_at: String, reversed_by: String },
    /// Left `settling` by its party and voided by an agency: whatever attempt `attempt` had
    /// counted in the person's year taken off, the prescription released; never reported.
    Voided { attempt: u32, reason: String, voided_at: String, voided_by: String },
}

/// A settlement as of one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementRecord {
    pub setl_id: String,
    /// The settling pharmacy or institution.
    pub fixmedins_code: String,
    /// Who settled (`pharmacist:F1`, `office:H1`).
    pub settled_by: String,
    pub psn_no: String,
    /// The region whose policy applied (the person's insured region).
    pub insured_admdvs: String,
    /// The region of the prescribing institution (the catalogue's regional lists).
    pub admdvs: String,
    pub setl_date: NaiveDate,
    pub request: SettlementRequest,
    #[serde(flatten)]
    pub stage: SettlementStage,
    pub breakdown: Breakdown,
    pub settled_at: String,
    /// The prescribing institution, or the one of the visit (S5: the budget it is kept out of).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution: Option<String>,
    /// The quantity (packs) settled of each drug.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quantities: BTreeMap<String, Decimal>,
    /// The drugs of this settlement the person had not had settled yet in its month, as the
    /// year this attempt was computed from says: each counts one patient in the month's
    /// ledgers (M2; a reversal does not take it back: the person was treated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_in_month: Vec<String>,
    /// Where this version's event (settled, reversed) is counted in the region's ledgers
    /// (`store::ledger`): named before it is counted, so a retry knows whether it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger: Option<Intents>,
}

impl SettlementRecord {
    /// The calendar year whose totals count the settlement: the purchase's (S4: a manual
    /// reimbursement counts in the year it was bought), else the settlement's.
    pub fn year(&self) -> i32 {
        self.request.counted_year(self.setl_date)
    }

    /// What the event `kind` of this settlement adds to each of the ledgers of region
    /// `insured_admdvs`'s month `month` (rules S5, M2), by ledger id: per drug, a row for the
    /// settling party (its lines, packs and line amounts) and one for the prescribing
    /// institution (lines, cost, pooled payment); per party, its settlements and every
    /// amount of the breakdown, separate-payment lines' cost and pooled payment apart. A
    /// reversal's figures are the same, negative.
    pub fn ledger_rows(&self, month: &str, kind: EventKind) -> BTreeMap<String, Rows> {
        let sign = match kind {
            EventKind::Settled => Decimal::ONE,
            EventKind::Reversed => Decimal::NEGATIVE_ONE,
        };
        let signed = |pairs: &[(&str, Decimal)]| -> Figures { pairs.iter().map(|(field, amount)| (field.to_string(), sign * amount)).collect() };
        let mut ledgers: BTreeMap<String, Rows> = BTreeMap::new();
        let b = &self.breakdown;
        let (mut sp_medfee, mut sp_hifp_pay) = (Decimal::ZERO, Decimal::ZERO);
        for line in &b.lines {
            let id = ledger_id(&self.insured_admdvs, month, Dimension::Drug, &line.med_list_codg, &self.setl_id);
            let qty = self.quantities.get(&line.med_list_codg).copied().unwrap_or_default();
            let first = kind == EventKind::Settled && self.first_in_month.contains(&line.med_list_codg);
            let mut figures = signed(&[
                ("lines", Decimal::ONE),
                ("qty", qty),
                ("medfee", line.medfee),
                ("fulamt_ownpay_amt", line.fulamt_ownpay_amt),
                ("overlmt_selfpay", line.overlmt_selfpay),
                ("preselfpay_amt", line.preselfpay_amt),
                ("inscp_scp_amt", line.inscp_scp_amt),
                ("act_pay_dedc", line.act_pay_dedc),
                ("hifp_pay", line.hifp_pay),
            ]);
            figures.insert("patients".to_string(), if first { Decimal::ONE } else { Decimal::ZERO });
            let rows = ledgers.entry(id).or_default();
            add_figures(rows.entry(self.fixmedins_code.clone()).or_default(), &figures);
            if let Some(institution) = &self.institution {
                let prescribed = signed(&[("lines", Decimal::ONE), ("medfee", line.medfee), ("hifp_pay", line.hifp_pay)]);
                add_figures(rows.entry(prescriber_row(institution)).or_default(), &prescribed);
            }
            if line.treatment == Some(Treatment::SeparatePayment) {
                sp_medfee += line.medfee;
                sp_hifp_pay += line.hifp_pay;
            }
        }
        let party = signed(&[
            ("settlements", Decimal::ONE),
            ("medfee_sumamt", b.medfee_sumamt),
            ("fulamt_ownpay_amt", b.fulamt_ownpay_amt),
            ("overlmt_selfpay", b.overlmt_selfpay),
            ("preselfpay_amt", b.preselfpay_amt),
            ("inscp_scp_amt", b.inscp_scp_amt),
            ("act_pay_dedc", b.act_pay_dedc),
            ("hifp_pay", b.hifp_pay),
            ("hifmi_pay", b.hifmi_pay),
            ("maf_pay", b.maf_pay),
            ("fund_pay_sumamt", b.fund_pay_sumamt),
            ("acct_pay", b.acct_pay),
            ("psn_cash_pay", b.psn_cash_pay),
            ("psn_part_amt", b.psn_part_amt),
            ("separate_payment_medfee", sp_medfee),
            ("separate_payment_hifp_pay", sp_hifp_pay),
        ]);
        let mut party = party;
        if kind == EventKind::Reversed {
            // counted as well as taken off: the share of a party's settlements it reverses (M3)
            party.insert("reversals".to_string(), Decimal::ONE);
        }
        let id = ledger_id(&self.insured_admdvs, month, Dimension::Party, &self.fixmedins_code, &self.setl_id);
        ledgers.insert(id, [(String::new(), party)].into());
        ledgers
    }
}

pub type SettlementLatest = Latest<SettlementRecord>;

/// A drug settled in a region's month, and whether it was paid as a separate-payment drug
/// (S5: reported apart from institution budgets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedDrug {
    pub med_list_codg: String,
    pub separate_payment: bool,
}

/// The id of a party's settlement number: derived, so a retried request finds what its first
/// attempt wrote.
pub fn setl_id(fixmedins_code: &str, setl_no: &str) -> String {
    crate::derived_id("ST", &[fixmedins_code, setl_no])
}

pub struct Settlements<'a, K> {
    kv: &'a K,
}

impl<'a, K: KeyValue> Settlements<'a, K> {
    pub fn new(kv: &'a K) -> Self {
        Settlements { kv }
    }

    fn versions(&self, setl_id: &str) -> Versions<'a, K> {
        Versions::new(self.kv, setl_id, keys::settle_version_counter(setl_id), keys::settle_version)
    }

    /// The latest written version: two reads.
    pub async fn latest(&self, setl_id: &str) -> StoreResult<Option<SettlementLatest>> {
        self.versions(setl_id).latest().await
    }

    /// The latest written version if there is one, and what was seen either way (what a first
    /// version is claimed against when there is none): two reads, one when there is none.
    pub async fn newest(&self, setl_id: &str) -> StoreResult<(Seen, Option<SettlementRecord>)> {
        self.versions(setl_id).newest().await
    }

    /// Claims the version after the one `seen` read for a step; refused when another step
    /// claimed it first.
    pub async fn claim(&self, setl_id: &str, seen: Seen, now: i64) -> StoreResult<Result<Claim, Raced>> {
        self.versions(setl_id).claim(seen, now).await
    }

    pub async fn write(&self, claim: Claim, record: &SettlementRecord) -> StoreResult<()> {
        self.versions(&record.setl_id).write(claim, record).await
    }

    /// The holders of `held`: one settlement at a time (P8, S8).
    fn holders(&self, held: Held<'_>) -> Slots<'a, K> {
        let held = held.key();
        Slots::new(self.kv, keys::settle_holders(&held), move |n| keys::settle_holder(&held, n))
    }

    /// The settlement that claimed `held` last, with the slots seen: the head is above
    /// `written` while a settlement that claimed it is writing its name (or died).
    pub async fn holder(&self, held: Held<'_>) -> StoreResult<(Seen, Option<String>)> {
        self.holders(held).newest().await
    }

    /// Whether settlement `setl_id` let what it held go: reversed or voided.
    pub async fn is_released(&self, setl_id: &str) -> StoreResult<bool> {
        Ok(self.latest(setl_id).await?.is_some_and(|l| matches!(l.record.stage, SettlementStage::Reversed { .. } | SettlementStage::Voided { .. })))
    }

    /// The settlement that holds `held` and stands (not released), if any.
    pub async fn live_holder(&self, held: Held<'_>) -> StoreResult<Option<String>> {
        match self.holder(held).await?.1 {
            Some(holder) if !self.is_released(&holder).await? => Ok(Some(holder)),
            _ => Ok(None),
        }
    }

    /// Claims `held` for settlement `setl_id` after the holder `seen` (none, or a reversed
    /// settlement), and names it; refused when another settlement claimed it first.
    pub async fn hold(&self, held: Held<'_>, seen: Seen, setl_id: &str, now: i64) -> StoreResult<Result<(), Raced>> {
        let holders = self.holders(held);
        let Ok(claim) = holders.claim(seen, now).await? else { return Ok(Err(Raced)) };
        holders.write(claim, &setl_id).await?;
        Ok(Ok(()))
    }

    /// The log of a person's settlements (`kind` `person`), or of a pharmacy's or institution's
    /// settlements on a day (`party`, code `{fixmedins_code}:day:{YYYYMMDD}`).
    pub fn index(&self, kind: &str, code: &str) -> Log<'a, K> {
        Log::new(self.kv, keys::settle_index(kind, code))
    }

    /// Lists `setl_id` in each index (`(kind, code)`) unless it already is (a retried
    /// settlement), all at once ([`crate::log::append_once_each`]).
    pub async fn list_once(&self, indexes: &[(&str, &str)], setl_id: &str) -> StoreResult<()> {
        let appends: Vec<_> = indexes.iter().map(|&(kind, code)| (self.index(kind, code), keys::settle_listed(setl_id, kind, code), setl_id)).collect();
        crate::log::append_once_each(self.kv, &appends).await
    }

    /// Names `drug` in the log of a region's month unless it already is.
    pub async fn report_drug(&self, admdvs: &str, month: &str, drug: &ReportedDrug) -> StoreResult<()> {
        let marker = keys::settle_region_month_drug_listed(admdvs, month, &drug.med_list_codg);
        self.region_month_drugs(admdvs, month).append_once(&marker, drug).await
    }

    /// Names settling party `code` in the log of a region's month unless it already is.
    pub async fn report_party(&self, admdvs: &str, month: &str, code: &str) -> StoreResult<()> {
        let marker = keys::settle_region_month_party_listed(admdvs, month, code);
        self.region_month_parties(admdvs, month).append_once(&marker, &code).await
    }

    /// The parties (pharmacies, institutions) that settled in a region's month.
    pub fn region_month_parties(&self, admdvs: &str, month: &str) -> Log<'a, K> {
        Log::new(self.kv, keys::settle_region_month_parties(admdvs, month))
    }

    /// The drugs settled in a region's month.
    pub fn region_month_drugs(&self, admdvs: &str, month: &str) -> Log<'a, K> {
        Log::new(self.kv, keys::settle_region_month_drugs(admdvs, month))
    }

    /// The log of a region's settlement policies.
    pub fn region_policy(&self, admdvs: &str) -> Log<'a, K> {
        Log::new(self.kv, keys::settle_region_policy(admdvs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryKv;
    use futures::executor::block_on;

    const NOW: i64 = 1_750_000_000;

    #[test]
    fn a_prescription_is_held_by_one_settlement_at_a_time() {
        let kv = MemoryKv::new();
        let store = Settlements::new(&kv);
        block_on(async {
            let (seen, none) = store.holder(Held::Prescription("RX1")).await.unwrap();
            assert_eq!(none, None);
            assert_eq!(store.hold(Held::Prescription("RX1"), seen, "ST1", NOW).await.unwrap(), Ok(()));
            assert_eq!(store.hold(Held::Prescription("RX1"), seen, "ST2", NOW).await.unwrap(), Err(Raced), "the same free prescription twice");
            let (seen, holder) = store.holder(Held::Prescription("RX1")).await.unwrap();
            assert_eq!((seen, holder.as_deref()), (Seen::just_written(1), Some("ST1")));
            // after ST1 is reversed, the next settlement takes the next slot
            assert_eq!(store.hold(Held::Prescription("RX1"), seen, "ST3", NOW).await.unwrap(), Ok(()));
            assert_eq!(store.holder(Held::Prescription("RX1")).await.unwrap().1.as_deref(), Some("ST3"));
        });
        assert_ne!(setl_id("P1", "S-1"), setl_id("P2", "S-1"));
    }
}
