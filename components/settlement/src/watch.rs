//! Smart monitoring of settlement (rule M3): a line priced above its payment standard (a
//! negotiated drug's attempt, refused under C7; another drug's excess, left to the patient
//! under S1), and a pharmacy reversing an unusual share of its settlements in a month. Each
//! finding is raised once as an alert for the agency of the person's insured region
//! (`store::alerts`); none refuses anything by itself.

use api::{ApiResult, Ctx};
use rules::monitoring;
use rust_decimal::prelude::ToPrimitive;
use store::alerts::{Alerts, RecordRef, ThresholdsVersion, thresholds_in_force};
use store::ledger::{Dimension, Figures, add_figures, month_totals};
use store::settlement::SettlementRecord;
use store::{KeyValue, LogCache};

/// The regions' thresholds this instance has read, validated per request by one read each.
static THRESHOLDS: LogCache<ThresholdsVersion> = LogCache::new();

/// Who raises what this component finds.
const CHECKER: &str = "check:settlement";

/// After a settlement (and on each retry, which raises nothing twice): each line the engine
/// left partly to the patient because its price is above the standard (S1). Nothing read for a
/// settlement whose lines are all at or below their standards.
pub async fn after_settled<K: KeyValue>(ctx: &Ctx, kv: &K, record: &SettlementRecord) -> ApiResult<()> {
    for line in &record.breakdown.lines {
        let unit_price = record.request.lines.iter().find(|l| l.med_list_codg == line.med_list_codg).map(|l| l.unit_price).unwrap_or_default();
        if let Some(finding) = monitoring::price_above_standard(&record.setl_id, &line.med_list_codg, unit_price, line.overlmt_selfpay) {
            let records = vec![RecordRef::new("settlement", &record.setl_id), RecordRef::new("pharmacy", &record.fixmedins_code)];
            Alerts::new(kv).raise(&record.insured_admdvs, &finding, records, CHECKER, &ctx.timestamp(), ctx.now.timestamp()).await?;
        }
    }
    Ok(())
}

/// A settlement or pre-settlement refused under C7 at `party` for `codes` (negotiated drugs
/// priced above their standards): raised for the agency of the person's insured region, once a
/// day per party and drug.
pub async fn price_above_standard_attempted<K: KeyValue>(ctx: &Ctx, kv: &K, insured_admdvs: &str, party: &str, codes: &[String]) -> ApiResult<()> {
    for code in codes {
        let finding = monitoring::price_above_standard_attempted(party, code, ctx.today());
        let records = vec![RecordRef::new("party", party), RecordRef::new("drug", code)];
        Alerts::new(kv).raise(insured_admdvs, &finding, records, CHECKER, &ctx.timestamp(), ctx.now.timestamp()).await?;
    }
    Ok(())
}

/// After a reversal was counted in month `month`'s ledgers: the party's reversals against its
/// settlements that month. Reads the thresholds (one, cached) and the party's month (two per
/// shard).
pub async fn after_reversed<K: KeyValue>(ctx: &Ctx, kv: &K, record: &SettlementRecord, month: &str) -> ApiResult<()> {
    let thresholds = thresholds_in_force(&THRESHOLDS, kv, &record.insured_admdvs, ctx.today()).await?;
    let mut totals = Figures::new();
    for row in month_totals(kv, &record.insured_admdvs, month, Dimension::Party, &record.fixmedins_code).await?.values() {
        add_figures(&mut totals, row);
    }
    let count = |field: &str| totals.get(field).and_then(|n| n.to_u64()).unwrap_or_default();
    let reversed = count("reversals");
    // `settlements` is net of reversals: those reversed were settled too
    let settled = count("settlements") + reversed;
    if let Some(finding) = monitoring::frequent_reversals(&thresholds, &record.fixmedins_code, month, settled, reversed) {
        let records = vec![RecordRef::new("pharmacy", &record.fixmedins_code), RecordRef::new("settlement", &record.setl_id)];
        Alerts::new(kv).raise(&record.insured_admdvs, &finding, records, CHECKER, &ctx.timestamp(), ctx.now.timestamp()).await?;
    }
    Ok(())
}
