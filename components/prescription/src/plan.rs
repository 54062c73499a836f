//! Rule M3 at the counter: a dispensing under a filing whose treatment plan bounds the quantity
//! (`plan_quantity`, E5) draws what it hands out from the filing's draws (`store::draws`), and
//! is refused when that, with what was dispensed under the filing in the plan's period, would
//! exceed the plan. The draw is the claim of the draws' next version, so two dispensings at
//! once never both fit into what is left.

use api::{ApiError, ApiResult, Ctx, Violation};
use chrono::NaiveDate;
use rules::plan::{Draw, PlanQuantity, PlanRefusal, check};
use rust_decimal::Decimal;
use store::KeyValue;
use store::draws::{FilingDraws, PlanDraws};
use store::filing::FilingVersion;
use store::prescription::{Prescriptions, RxVersion};

/// Rounds of a draw racing other dispensings under the filing: each lost round means another
/// one was drawn.
const ROUNDS: usize = 8;

/// A line refused by its filing's plan.
pub(crate) struct Beyond {
    pub violation: Violation,
    pub filing_id: String,
    pub med_list_codg: String,
}

/// Draws each line of the dispensing `record` holds from its filing's plan (`filings`: the
/// person's current filings of the prescription's separate-payment drugs), once: a retry finds
/// its draws. Lines whose filing bounds no quantity cost nothing. Returns the lines beyond
/// their plan (then nothing of theirs is drawn; the lines that fit stay drawn, and are drawn
/// again by nobody: the dispensing is given back and a new one replaces their draws).
pub(crate) async fn draw<K: KeyValue>(ctx: &Ctx, kv: &K, record: &RxVersion, filings: &[FilingVersion], day: NaiveDate) -> ApiResult<Vec<Beyond>> {
    let Some(dispensing) = &record.dispensing else { return Ok(Vec::new()) };
    let mut beyond = Vec::new();
    for (n, line) in dispensing.dispensing.lines.iter().enumerate() {
        let Some(filing) = filings.iter().find(|f| f.application.code == line.med_list_codg) else { continue };
        let Some(plan) = &filing.application.plan_quantity else { continue };
        let unit = record.prescription.lines.iter().find(|l| l.med_list_codg == line.med_list_codg).map_or("", |l| l.drug_dosunt.as_str());
        let this = Draw { hi_rxno: record.hi_rxno.clone(), dispensing_no: dispensing.dispensing.dispensing_no.clone(), on: day, drug_cnt: line.drug_cnt };
        if let Err(refused) = draw_line(ctx, kv, &filing.id, &line.med_list_codg, plan, unit, this).await? {
            let violation = Violation { rule: Some(refused.rule()), field: format!("/lines/{n}/drug_cnt"), reason: refused.reason() };
            beyond.push(Beyond { violation, filing_id: filing.id.clone(), med_list_codg: line.med_list_codg.clone() });
        }
    }
    Ok(beyond)
}

/// One line's draw: checked against the draws as they stand; beyond the plan, checked again
/// against the draws corrected for dispensings given back or packs handed back since.
async fn draw_line<K: KeyValue>(ctx: &Ctx, kv: &K, filing_id: &str, code: &str, plan: &PlanQuantity, unit: &str, this: Draw) -> ApiResult<Result<(), PlanRefusal>> {
    let draws = PlanDraws::new(kv, filing_id);
    for _ in 0..ROUNDS {
        let (seen, current) = draws.current().await?;
        if current.holds(&this.hi_rxno, &this.dispensing_no) {
            return Ok(Ok(()));
        }
        let base = match check(plan, current.others(&this.hi_rxno), this.on, unit, this.drug_cnt) {
            Ok(()) => current,
            Err(PlanRefusal::Beyond { .. }) => {
                let corrected = corrected(kv, &current, plan.window_start(this.on), code, &this.hi_rxno).await?;
                if let Err(refused) = check(plan, corrected.others(&this.hi_rxno), this.on, unit, this.drug_cnt) {
                    return Ok(Err(refused));
                }
                corrected
            }
            Err(refused) => return Ok(Err(refused)),
        };
        if draws.advance(seen, &base.with(this.clone()), ctx.now.timestamp()).await?.is_ok() {
            return Ok(Ok(()));
        }
        api::wait::for_result(|| draws.moved_past(seen)).await?;
    }
    Err(crate::dispense::raced())
}

/// The draws (of drug `med_list_codg`) with those from `since` on set to what their
/// prescriptions hold now: a dispensing given back draws nothing, packs handed back are taken
/// off. One prescription read per other prescription's draw in the period: only on the way to
/// a refusal. (`replacing`'s own earlier draw is kept as it is: `with` replaces it.)
async fn corrected<K: KeyValue>(kv: &K, current: &FilingDraws, since: NaiveDate, med_list_codg: &str, replacing: &str) -> Result<FilingDraws, ApiError> {
    let store = Prescriptions::new(kv);
    let mut draws = Vec::with_capacity(current.draws.len());
    for draw in &current.draws {
        // outside the period, or the prescription's own earlier draw, which this one replaces
        if draw.on < since || draw.hi_rxno == replacing {
            draws.push(draw.clone());
            continue;
        }
        let held = store.latest(&draw.hi_rxno).await?.and_then(|latest| latest.record.dispensing).filter(|d| d.dispensing.dispensing_no == draw.dispensing_no);
        let kept: Option<Decimal> = held.and_then(|d| d.kept().into_iter().find(|(code, _)| code == med_list_codg).map(|(_, drug_cnt)| drug_cnt));
        if let Some(drug_cnt) = kept.filter(|q| *q > Decimal::ZERO) {
            draws.push(Draw { drug_cnt, ..draw.clone() });
        }
    }
    Ok(FilingDraws { draws })
}
