//! Settlements: each one numbered versions (`store::versions`) under an id derived from the
//! settling pharmacy and its own settlement number, so a retried request lands on the same
//! record; a claim per prescription so it is settled at most once; each region's settlement
//! policy log. The person's annual totals are `store::accumulators`.

use crate::dated::Dated;
use crate::log::Log;
use crate::versions::{Latest, Raced, Versions};
use crate::{KeyValue, StoreResult, keys};
use chrono::NaiveDate;
use rules::settlement::{Breakdown, SettlementPolicy};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

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
}

/// Where a settlement stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum SettlementStage {
    /// Computed as attempt `attempt`; its accrual is being reserved in the person's totals.
    Settling { attempt: u32 },
    Settled { attempt: u32 },
    /// Reversed (冲正/退费): the accrual of `attempt` given back.
    Reversed { attempt: u32, reason: String, reversed_at: String, reversed_by: String },
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

    /// The newest version number taken (0: none yet). One read.
    pub async fn newest(&self, setl_id: &str) -> StoreResult<i64> {
        self.versions(setl_id).newest().await
    }

    /// The latest written version: two reads.
    pub async fn latest(&self, setl_id: &str) -> StoreResult<Option<SettlementLatest>> {
        self.versions(setl_id).latest().await
    }

    /// Takes the number after `newest` for a step; refused when another step took one since.
    pub async fn claim(&self, setl_id: &str, newest: i64) -> StoreResult<Result<i64, Raced>> {
        self.versions(setl_id).claim(newest).await
    }

    pub async fn write(&self, version: i64, record: &SettlementRecord) -> StoreResult<()> {
        self.versions(&record.setl_id).write(version, record).await
    }

    /// Claims prescription `hi_rxno` for settlement `setl_id` (P8, S8: settled at most once):
    /// the first claim names its settlement; a later one learns which settlement holds it
    /// (`None`: a claim whose owner was never written, held by no one).
    pub async fn claim_prescription(&self, hi_rxno: &str, setl_id: &str) -> StoreResult<Result<(), Option<String>>> {
        if self.kv.increment(&keys::settle_rx_claims(hi_rxno), 1).await? == 1 {
            self.kv.set_json(&keys::settle_rx_owner(hi_rxno), &setl_id).await?;
            return Ok(Ok(()));
        }
        let owner: Option<String> = self.kv.get_json(&keys::settle_rx_owner(hi_rxno)).await?;
        Ok(if owner.as_deref() == Some(setl_id) { Ok(()) } else { Err(owner) })
    }

    /// The log of a person's settlements (`kind` `person`), or of a pharmacy's or institution's
    /// settlements on a day (`party`, code `{fixmedins_code}:day:{YYYYMMDD}`).
    pub fn index(&self, kind: &str, code: &str) -> Log<'a, K> {
        Log::new(self.kv, keys::settle_index(kind, code))
    }

    /// Lists `setl_id` in an index unless it already is (a retried settlement).
    pub async fn list_once(&self, kind: &str, code: &str, setl_id: &str) -> StoreResult<()> {
        self.index(kind, code).append_once(&keys::settle_listed(setl_id, kind, code), &setl_id).await
    }

    /// Names `drug` in the log of a region's month unless it already is.
    pub async fn report_drug(&self, admdvs: &str, month: &str, drug: &ReportedDrug) -> StoreResult<()> {
        let marker = keys::settle_region_month_drug_listed(admdvs, month, &drug.med_list_codg);
        self.region_month_drugs(admdvs, month).append_once(&marker, drug).await
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

    #[test]
    fn a_prescription_is_claimed_by_one_settlement() {
        let kv = MemoryKv::new();
        let store = Settlements::new(&kv);
        block_on(async {
            assert_eq!(store.claim_prescription("RX1", "ST1").await.unwrap(), Ok(()));
            assert_eq!(store.claim_prescription("RX1", "ST1").await.unwrap(), Ok(()), "the same settlement again");
            assert_eq!(store.claim_prescription("RX1", "ST2").await.unwrap(), Err(Some("ST1".into())));
        });
        assert_ne!(setl_id("P1", "S-1"), setl_id("P2", "S-1"));
    }
}
