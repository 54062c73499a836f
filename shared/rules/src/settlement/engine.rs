//! The one-stop settlement calculation (rules S1–S4, S7, S8, C4, C6): a pure function from the
//! policy, the lines, the person, the prescribing institution's level and the year so far to
//! the national breakdown, per-line detail, the steps an auditor follows, and what the
//! settlement adds to the person's year. The order and the rounding points are described in
//! the [module documentation](super).

use super::input::{LineCoverage, SettlementInput, SettlementLine, StandardBasis, Treatment};
use super::policy::{AnnualMaxBasis, SchemeTerms, SettlementPolicy};
use super::year::{Accrual, Totals};
use crate::catalogue::InsuranceClass;
use crate::money::round_yuan;
#[cfg(test)]
use crate::registry::FieldProblem;
use crate::registry::Level;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One line of the breakdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineDetail {
    pub med_list_codg: String,
    pub medfee: Decimal,
    pub fulamt_ownpay_amt: Decimal,
    pub overlmt_selfpay: Decimal,
    pub preselfpay_amt: Decimal,
    pub inscp_scp_amt: Decimal,
    pub act_pay_dedc: Decimal,
    pub hifp_pay: Decimal,
    /// `None` for a line not covered.
    pub treatment: Option<Treatment>,
    /// The standard paid against, unless it is confidential (C6) or the drug has none.
    pub payment_standard: Option<Decimal>,
}

/// One step of the calculation, for an auditor: the rule, what was done, from what, to what.
/// No step ever shows a confidential standard (C6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub rule: String,
    pub what: String,
    pub input: String,
    pub output: String,
}

/// The settlement's breakdown, in the national interface's field names; every amount is yuan
/// with exactly 2 places (serialized as a string, e.g. `"140.00"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breakdown {
    pub medfee_sumamt: Decimal,
    pub fulamt_ownpay_amt: Decimal,
    pub overlmt_selfpay: Decimal,
    pub preselfpay_amt: Decimal,
    pub inscp_scp_amt: Decimal,
    pub act_pay_dedc: Decimal,
    pub hifp_pay: Decimal,
    pub hifmi_pay: Decimal,
    pub maf_pay: Decimal,
    pub fund_pay_sumamt: Decimal,
    pub acct_pay: Decimal,
    pub psn_cash_pay: Decimal,
    pub psn_part_amt: Decimal,
    pub lines: Vec<LineDetail>,
    pub steps: Vec<Step>,
    /// What this settlement adds to the person's year.
    pub accrual: Accrual,
}

/// The settlement of `input` under `policy`, after checking both: every problem of the policy
/// (at `/policy/...`) and of the input (see [`SettlementInput::problems`]) at once, or the
/// breakdown. Never panics. The components check the policy when it is published and the
/// input when it arrives, then call [`settle`]; the tests settle any policy and input with this.
#[cfg(test)]
pub(crate) fn try_settle(policy: &SettlementPolicy, input: &SettlementInput) -> Result<Breakdown, Vec<FieldProblem>> {
    let mut problems: Vec<FieldProblem> = policy.problems().into_iter().map(|p| FieldProblem { field: format!("/policy{}", p.field), ..p }).collect();
    problems.extend(input.problems());
    if problems.is_empty() { Ok(settle(policy, input)) } else { Err(problems) }
}

/// The settlement of `input` under `policy` (rules S1–S4, S7, S8, C4, C6).
///
/// The caller checks the policy when it is published ([`SettlementPolicy::problems`]) and the
/// input before settling ([`SettlementInput::problems`]); within those bounds no sum
/// overflows (the tests' `try_settle` checks both, then settles). The year's totals are read as
/// the store has them: one below 0 (a reversal racing a settlement) counts as 0.
pub fn settle(policy: &SettlementPolicy, input: &SettlementInput) -> Breakdown {
    let terms = policy.scheme(input.person.insutype);
    let ytd = &input.year_to_date;
    let mut steps = Steps(input.decided.clone());
    let mut accrual = Totals::default();

    // 1–4. per line: its cost, above the standard (S1), class B's first self-pay, in scope
    let mut lines: Vec<LineDetail> = input.lines.iter().map(|line| price(line, terms, &mut steps)).collect();

    // 5. the deductibles still open this year, spread over the lines in order
    deduct(&mut lines, terms, input.institution_level, ytd, &mut steps, &mut accrual);

    // 6. the pooled fund: per group, per drug maximum (S4), then the annual cap
    let groups = groups(&input.lines, terms, input.institution_level);
    for group in &groups {
        let counted = pool(group, terms.outpatient_negotiated.annual_max_basis, &mut lines, ytd, &mut steps);
        if let Key::Drug(code) = &group.key
            && !counted.is_zero()
        {
            accrual.per_drug_cost.insert(code.clone(), counted);
        }
    }
    annual_pooled_cap(&mut lines, terms, ytd, &mut steps);
    for group in &groups {
        if let Group { key: Key::Drug(code), members, .. } = group {
            let paid: Decimal = members.iter().map(|&n| lines[n].hifp_pay).sum();
            if !paid.is_zero() {
                accrual.per_drug.insert(code.clone(), yuan(paid));
            }
        }
    }
    let sum = |field: fn(&LineDetail) -> Decimal| yuan(lines.iter().map(field).sum::<Decimal>());
    let medfee_sumamt = sum(|l| l.medfee);
    let inscp_scp_amt = sum(|l| l.inscp_scp_amt);
    let hifp_pay = sum(|l| l.hifp_pay);
    accrual.pooled = hifp_pay;

    // 7. critical-illness insurance on the year's compliant self-pay (S7)
    let (base, hifmi_pay) = critical_illness(terms, ytd, inscp_scp_amt, hifp_pay, &mut steps);
    accrual.critical_illness_base = base;
    accrual.critical_illness = hifmi_pay;

    // 8. medical assistance on what remains in scope (S7)
    let maf_pay = assistance(terms, input.person.assistance_category.as_deref(), ytd, inscp_scp_amt - hifp_pay - hifmi_pay, &mut steps);
    accrual.assistance = maf_pay;

    // 9. the funds together, the patient's share, the personal account first where allowed
    let fund_pay_sumamt = hifp_pay + hifmi_pay + maf_pay;
    let psn_part_amt = medfee_sumamt - fund_pay_sumamt;
    steps.add(
        "S7",
        "the funds together; the rest is the patient's share",
        format!("hifp_pay {hifp_pay} + hifmi_pay {hifmi_pay} + maf_pay {maf_pay}; medfee_sumamt {medfee_sumamt}"),
        format!("fund_pay_sumamt {fund_pay_sumamt}; psn_part_amt {psn_part_amt}"),
    );
    let balance = non_negative(input.person.account_balance);
    let acct_pay = if terms.account_may_pay { yuan(psn_part_amt.min(balance)) } else { Decimal::ZERO };
    let allowed = if terms.account_may_pay { "the policy lets the personal account pay" } else { "the policy lets no personal account pay" };
    steps.add("S7", "the personal account pays the patient's share first", format!("share {psn_part_amt}, balance {balance}: {allowed}"), format!("acct_pay {}", yuan(acct_pay)));

    Breakdown {
        medfee_sumamt,
        fulamt_ownpay_amt: sum(|l| l.fulamt_ownpay_amt),
        overlmt_selfpay: sum(|l| l.overlmt_selfpay),
        preselfpay_amt: sum(|l| l.preselfpay_amt),
        inscp_scp_amt,
        act_pay_dedc: sum(|l| l.act_pay_dedc),
        hifp_pay,
        hifmi_pay,
        maf_pay,
        fund_pay_sumamt: yuan(fund_pay_sumamt),
        acct_pay: yuan(acct_pay),
        psn_cash_pay: yuan(psn_part_amt - acct_pay),
        psn_part_amt: yuan(psn_part_amt),
        lines: lines.into_iter().map(LineDetail::in_yuan).collect(),
        steps: steps.0,
        accrual: accrual.in_yuan(),
    }
}

#[derive(Default)]
struct Steps(Vec<Step>);

impl Steps {
    fn add(&mut self, rule: &str, what: &str, input: String, output: String) {
        self.0.push(Step { rule: rule.to_string(), what: what.to_string(), input, output });
    }
}

/// The amount with exactly 2 places. Every amount it is given already has at most 2 (it is a
/// rounded figure, or a sum or difference of them), so it only fixes the scale.
fn yuan(mut amount: Decimal) -> Decimal {
    amount.rescale(2);
    amount
}

fn non_negative(amount: Decimal) -> Decimal {
    amount.max(Decimal::ZERO)
}

impl LineDetail {
    fn in_yuan(self) -> LineDetail {
        LineDetail {
            medfee: yuan(self.medfee),
            fulamt_ownpay_amt: yuan(self.fulamt_ownpay_amt),
            overlmt_selfpay: yuan(self.overlmt_selfpay),
            preselfpay_amt: yuan(self.preselfpay_amt),
            inscp_scp_amt: yuan(self.inscp_scp_amt),
            act_pay_dedc: yuan(self.act_pay_dedc),
            hifp_pay: yuan(self.hifp_pay),
            ..self
        }
    }
}

impl Totals {
    fn in_yuan(self) -> Totals {
        Totals {
            ordinary_deductible: yuan(self.ordinary_deductible),
            outpatient_deductible: yuan(self.outpatient_deductible),
            pooled: yuan(self.pooled),
            per_drug: self.per_drug.into_iter().map(|(code, amount)| (code, yuan(amount))).collect(),
            per_drug_cost: self.per_drug_cost.into_iter().map(|(code, amount)| (code, yuan(amount))).collect(),
            critical_illness_base: yuan(self.critical_illness_base),
            critical_illness: yuan(self.critical_illness),
            assistance: yuan(self.assistance),
        }
    }
}

/// Steps 1–4 for one line: `medfee` (rounded), and for a covered line the part above the
/// standard (S1, rounded), class B's first self-pay (rounded) and the rest in scope.
fn price(line: &SettlementLine, terms: &SchemeTerms, steps: &mut Steps) -> LineDetail {
    let code = &line.med_list_codg;
    let medfee = round_yuan(line.quantity * line.unit_price);
    let mut detail = LineDetail {
        med_list_codg: code.clone(),
        medfee,
        fulamt_ownpay_amt: Decimal::ZERO,
        overlmt_selfpay: Decimal::ZERO,
        preselfpay_amt: Decimal::ZERO,
        inscp_scp_amt: Decimal::ZERO,
        act_pay_dedc: Decimal::ZERO,
        hifp_pay: Decimal::ZERO,
        treatment: None,
        payment_standard: None,
    };
    let cost = format!("{code}: {} × {}", line.quantity, line.unit_price);
    let (standard, basis, class, treatment) = match &line.coverage {
        LineCoverage::NotCovered { reason } => {
            detail.fulamt_ownpay_amt = medfee;
            steps.add("C1", "not covered: paid in full by the patient", format!("{cost} = {} ({reason})", yuan(medfee)), format!("fulamt_ownpay_amt {}", yuan(medfee)));
            return detail;
        }
        LineCoverage::Covered { standard, basis, class, treatment } => (*standard, *basis, *class, *treatment),
    };
    detail.treatment = Some(treatment);
    match standard {
        None => steps.add("S1", "no payment standard: paid on the actual price", format!("{cost} = {}", yuan(medfee)), "overlmt_selfpay 0.00".into()),
        Some(standard) => {
            if line.unit_price > standard {
                detail.overlmt_selfpay = round_yuan(line.quantity * (line.unit_price - standard));
            }
            let against = match basis {
                StandardBasis::Confidential => {
                    steps.add("C6", "the confidential payment standard applied; its amount is not shown", code.clone(), "standard withheld".into());
                    "the confidential standard".to_string()
                }
                StandardBasis::Published => {
                    detail.payment_standard = Some(standard);
                    format!("standard {standard}")
                }
                StandardBasis::Transition { until } => {
                    detail.payment_standard = Some(standard);
                    steps.add("C4", "dropped by the edition in force: paid at its old standard", format!("{code} until {until}"), format!("standard {standard}"));
                    format!("standard {standard}")
                }
            };
            let what = if line.unit_price > standard { "price above the payment standard: the excess is the patient's" } else { "price at or below the payment standard: paid on the actual price" };
            steps.add("S1", what, format!("{cost} = {} against {against}", yuan(medfee)), format!("overlmt_selfpay {}", yuan(detail.overlmt_selfpay)));
        }
    }
    let allowed = medfee - detail.overlmt_selfpay;
    if class == InsuranceClass::B {
        detail.preselfpay_amt = round_yuan(allowed * terms.class_b_first_self_pay);
        steps.add("S1", "class B (乙类): the patient first pays a share", format!("{code}: {} × {}", yuan(allowed), terms.class_b_first_self_pay), format!("preselfpay_amt {}", yuan(detail.preselfpay_amt)));
    }
    detail.inscp_scp_amt = allowed - detail.preselfpay_amt;
    detail
}

/// Step 5: the ordinary deductible of the prescribing level still open this year (S3), then the
/// outpatient mechanism's (S4), each taken by its lines in line order; none for separate
/// payment (S2).
fn deduct(lines: &mut [LineDetail], terms: &SchemeTerms, level: Level, ytd: &Totals, steps: &mut Steps, accrual: &mut Totals) {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Deductible {
        Ordinary,
        Mechanism,
    }
    let of = |line: &LineDetail| match line.treatment {
        Some(Treatment::Ordinary) => Some(Deductible::Ordinary),
        Some(Treatment::OutpatientNegotiated { .. }) => Some(Deductible::Mechanism),
        Some(Treatment::SeparatePayment) | None => None,
    };
    let tier = u8::from(level);
    let deductibles = [
        (Deductible::Ordinary, "S3", terms.ordinary.at(level).deductible, ytd.ordinary_deductible, format!("the ordinary outpatient deductible at tier {tier}")),
        (Deductible::Mechanism, "S4", terms.outpatient_negotiated.deductible, ytd.outpatient_deductible, "the outpatient negotiated-drug mechanism's deductible".to_string()),
    ];
    for (kind, rule, deductible, used, what) in deductibles {
        if !lines.iter().any(|l| of(l) == Some(kind)) {
            continue;
        }
        let used = non_negative(used);
        let open = non_negative(deductible - used);
        let mut left = open;
        let mut taken = Vec::new();
        for line in lines.iter_mut().filter(|l| of(l) == Some(kind)) {
            line.act_pay_dedc = line.inscp_scp_amt.min(left);
            left -= line.act_pay_dedc;
            taken.push(format!("{} {}", line.med_list_codg, yuan(line.act_pay_dedc)));
        }
        let applied = open - left;
        match kind {
            Deductible::Ordinary => accrual.ordinary_deductible = applied,
            Deductible::Mechanism => accrual.outpatient_deductible = applied,
        }
        steps.add(rule, &what, format!("deductible {deductible}, used this year {used}: {} open, taken by the lines in order", yuan(open)), format!("act_pay_dedc {}: {}", yuan(applied), taken.join(", ")));
    }
    if lines.iter().any(|l| l.treatment == Some(Treatment::SeparatePayment)) {
        steps.add("S2", "separate payment: no deductible", "the separate-payment lines".into(), "act_pay_dedc 0.00".into());
    }
}

/// A group of lines the pooled fund pays as one amount, rounded once.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Ordinary,
    SeparatePayment,
    /// One outpatient-mechanism drug (its annual maximum is per drug).
    Drug(String),
}

#[derive(Debug)]
struct Group {
    key: Key,
    rule: &'static str,
    what: String,
    ratio: Decimal,
    /// An outpatient-mechanism drug's annual maximum (the smallest, if its lines disagree).
    annual_max: Option<Decimal>,
    /// The group's lines, in line order.
    members: Vec<usize>,
}

/// The covered lines by group, groups in the order of their first line.
fn groups(lines: &[SettlementLine], terms: &SchemeTerms, level: Level) -> Vec<Group> {
    let tier = u8::from(level);
    let mut groups: Vec<Group> = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let LineCoverage::Covered { treatment, .. } = &line.coverage else { continue };
        let (key, rule, what, ratio, annual_max) = match *treatment {
            Treatment::Ordinary => (Key::Ordinary, "S3", format!("ordinary outpatient drugs at tier {tier}"), terms.ordinary.at(level).ratio, None),
            Treatment::SeparatePayment => (Key::SeparatePayment, "S2", format!("separate-payment drugs at the tier-{tier} inpatient ratio"), *terms.separate_payment.at(level), None),
            Treatment::OutpatientNegotiated { annual_max } => {
                let code = line.med_list_codg.clone();
                (Key::Drug(code.clone()), "S4", format!("outpatient negotiated-drug mechanism: {code}"), terms.outpatient_negotiated.ratio, Some(annual_max))
            }
        };
        match groups.iter_mut().find(|g| g.key == key) {
            Some(group) => {
                group.members.push(n);
                group.annual_max = match (group.annual_max, annual_max) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            None => groups.push(Group { key, rule, what, ratio, annual_max, members: vec![n] }),
        }
    }
    groups
}

/// Step 6 for one group: (in scope − deductible) × ratio over the group, rounded once; for a
/// mechanism drug no more than its annual maximum allows (S4, on the policy's basis); then
/// split over the group's lines. Returns the eligible cost counted for a mechanism drug (0 for
/// the other groups).
///
/// On the `fund_payment` basis the maximum limits the fund's payments for the drug this year:
/// the payment is cut to what the maximum leaves, and the whole in-scope amount is counted.
/// On `eligible_cost` it limits the drug's in-scope cost counted this year: of this purchase's
/// in-scope amount only the part that fits under the maximum is counted, the fund pays its
/// ratio of that part less the deductible, and the rest stays in scope (`inscp_scp_amt`), the
/// patient's share like any co-payment.
fn pool(group: &Group, basis: AnnualMaxBasis, lines: &mut [LineDetail], ytd: &Totals, steps: &mut Steps) -> Decimal {
    let in_scope: Decimal = group.members.iter().map(|&n| lines[n].inscp_scp_amt).sum();
    let deducted: Decimal = group.members.iter().map(|&n| lines[n].act_pay_dedc).sum();
    let mechanism = match (&group.key, group.annual_max) {
        (Key::Drug(code), Some(annual_max)) => Some((code, annual_max)),
        _ => None,
    };
    let mut counted = Decimal::ZERO;
    let mut paid = match (mechanism, basis) {
        (Some((code, annual_max)), AnnualMaxBasis::EligibleCost) => {
            let before = non_negative(ytd.per_drug_cost.get(code).copied().unwrap_or_default());
            let room = non_negative(annual_max - before);
            counted = in_scope.min(room);
            let exact = non_negative(counted - deducted) * group.ratio;
            let paid = round_yuan(exact);
            let at = format!("annual maximum {annual_max} on the drug's eligible cost (eligible_cost)");
            if counted < in_scope {
                steps.add(
                    "S4",
                    "the drug's annual maximum on its eligible cost: cost beyond it is the patient's",
                    format!("{code}: maximum {annual_max}, eligible cost counted this year {before}: {} left; in scope {}", yuan(room), yuan(in_scope)),
                    format!("counted {}; beyond the maximum {}", yuan(counted), yuan(in_scope - counted)),
                );
            }
            steps.add(group.rule, &format!("pooled fund: {}", group.what), format!("(counted {} − deductible {}) × {} = {exact}; {at}", yuan(counted), yuan(deducted), group.ratio), format!("{}", yuan(paid)));
            paid
        }
        _ => {
            let exact = (in_scope - deducted) * group.ratio;
            let at = mechanism.map_or_else(String::new, |(_, annual_max)| format!("; annual maximum {annual_max} on the fund's payments (fund_payment)"));
            steps.add(group.rule, &format!("pooled fund: {}", group.what), format!("({} − deductible {}) × {} = {exact}{at}", yuan(in_scope), yuan(deducted), group.ratio), format!("{}", yuan(round_yuan(exact))));
            round_yuan(exact)
        }
    };
    if let (Some((code, annual_max)), AnnualMaxBasis::FundPayment) = (mechanism, basis) {
        counted = in_scope;
        let before = non_negative(ytd.per_drug.get(code).copied().unwrap_or_default());
        let room = non_negative(annual_max - before);
        if paid > room {
            steps.add("S4", "the drug's annual maximum on the fund's payments", format!("{code}: maximum {annual_max}, paid this year {before}: {} left", yuan(room)), format!("{}", yuan(room)));
            paid = room;
        }
    }
    // Each line's share: the rounded running total of the exact shares less the one before
    // it. The shares add up to the group's rounded amount, each within a fen of its exact
    // share and never above its own (in scope − deductible); an amount cut by a maximum is
    // taken by the lines in order.
    let mut running = Decimal::ZERO;
    let mut rounded_before = Decimal::ZERO;
    let mut left = paid;
    let mut shares = Vec::with_capacity(group.members.len());
    for &n in &group.members {
        running += (lines[n].inscp_scp_amt - lines[n].act_pay_dedc) * group.ratio;
        let rounded = round_yuan(running);
        let share = (rounded - rounded_before).min(left);
        rounded_before = rounded;
        left -= share;
        lines[n].hifp_pay = share;
        shares.push(format!("{} {}", lines[n].med_list_codg, yuan(share)));
    }
    if group.members.len() > 1 {
        steps.add("S8", "the group's pooled fund over its lines: each the rounded running total less the one before", format!("{}", yuan(paid)), shares.join(", "));
    }
    counted
}

/// Step 6, last: the pooled fund pays at most what is left of its annual cap, taken by the lines
/// in line order (the last lines are cut first).
fn annual_pooled_cap(lines: &mut [LineDetail], terms: &SchemeTerms, ytd: &Totals, steps: &mut Steps) {
    let computed: Decimal = lines.iter().map(|l| l.hifp_pay).sum();
    let before = non_negative(ytd.pooled);
    let room = non_negative(terms.annual_pooled_cap - before);
    if computed <= room {
        return;
    }
    let mut left = room;
    let mut cut = Vec::new();
    for line in lines.iter_mut() {
        let kept = line.hifp_pay.min(left);
        if kept < line.hifp_pay {
            cut.push(format!("{} {} → {}", line.med_list_codg, yuan(line.hifp_pay), yuan(kept)));
        }
        line.hifp_pay = kept;
        left -= kept;
    }
    steps.add(
        "S7",
        "the pooled fund's annual cap: the lines take what is left in order",
        format!("computed {}, cap {}, paid this year {before}: {} left", yuan(computed), terms.annual_pooled_cap, yuan(room)),
        format!("hifp_pay {}: {}", yuan(room), cut.join(", ")),
    );
}

/// Step 7: the settlement's compliant self-pay (in scope less the pooled fund: the deductible
/// and the co-payment) joins the year's; the part of it above the deductible is paid by
/// segment (segments count from the deductible), rounded once, up to the annual cap. Returns
/// (the self-pay added to the base, `hifmi_pay`).
fn critical_illness(terms: &SchemeTerms, ytd: &Totals, inscp_scp_amt: Decimal, hifp_pay: Decimal, steps: &mut Steps) -> (Decimal, Decimal) {
    let illness = &terms.critical_illness;
    let base = inscp_scp_amt - hifp_pay;
    let before = non_negative(ytd.critical_illness_base);
    // the settlement's stretch of the year's self-pay, measured from the deductible
    let (low, high) = (before - illness.deductible, before + base - illness.deductible);
    let mut exact = Decimal::ZERO;
    let mut by_segment = Vec::new();
    for segment in &illness.segments {
        let portion = non_negative(segment.to.map_or(high, |to| high.min(to)) - low.max(segment.from));
        if portion > Decimal::ZERO {
            exact += portion * segment.ratio;
            let to = segment.to.map_or_else(|| "∞".to_string(), |to| to.to_string());
            by_segment.push(format!("{portion} in {}–{to} × {} = {}", segment.from, segment.ratio, portion * segment.ratio));
        }
    }
    let computed = round_yuan(exact);
    let paid_before = non_negative(ytd.critical_illness);
    let room = non_negative(illness.annual_cap - paid_before);
    // under a valid policy (ratios at most 1, segments apart) the payment never passes the
    // self-pay it is paid on; the bound keeps the patient's share from going below 0 anyway
    let paid = computed.min(room).min(base);
    let segments = if by_segment.is_empty() { "nothing above the deductible".to_string() } else { by_segment.join("; ") };
    steps.add(
        "S7",
        "critical-illness insurance on the year's compliant self-pay above its deductible, by segment",
        format!("self-pay {} (in scope {inscp_scp_amt} − pooled {hifp_pay}); this year before {before}; deductible {}: {segments}", yuan(base), illness.deductible),
        format!("{}", yuan(computed)),
    );
    if paid < computed {
        steps.add("S7", "critical-illness insurance's annual cap", format!("cap {}, paid this year {paid_before}", illness.annual_cap), format!("hifmi_pay {}", yuan(paid)));
    }
    (yuan(base), yuan(paid))
}

/// Step 8: medical assistance for the person's category: what remains in scope × the ratio,
/// rounded once, up to the category's annual cap. A category the policy does not name pays
/// nothing, and a step says so.
fn assistance(terms: &SchemeTerms, category: Option<&str>, ytd: &Totals, remaining: Decimal, steps: &mut Steps) -> Decimal {
    let none = yuan(Decimal::ZERO);
    let Some(category) = category else { return none };
    let Some(assistance) = terms.assistance.get(category) else {
        steps.add("S7", "medical assistance: the region's policy names no such category", category.to_string(), "maf_pay 0.00".into());
        return none;
    };
    let computed = round_yuan(remaining * assistance.ratio);
    let paid_before = non_negative(ytd.assistance);
    let room = non_negative(assistance.annual_cap - paid_before);
    let paid = computed.min(room);
    let capped = if paid < computed { format!("; cap {}, paid this year {paid_before}", assistance.annual_cap) } else { String::new() };
    steps.add("S7", "medical assistance on what remains in scope", format!("{category}: {remaining} × {} = {}{capped}", assistance.ratio, yuan(computed)), format!("maf_pay {}", yuan(paid)));
    yuan(paid)
}

#[cfg(test)]
mod tests {
    //! Worked examples under the example policy (`docs/examples/settlement-policy.json`, read by
    //! `policy::tests::wuhan`). Its figures, which the comments below compute with:
    //!
    //! | | employee (310) | resident (390) |
    //! |---|---|---|
    //! | ordinary deductible / ratio, tier 1, 2, 3 | 200 / 0.80, 400 / 0.75, 800 / 0.70 | 100 / 0.65, 300 / 0.60, 600 / 0.55 |
    //! | separate payment (S2), tier 1, 2, 3 | 0.90, 0.85, 0.80 | 0.75, 0.70, 0.65 |
    //! | outpatient mechanism (S4) | 300 / 0.70 | 300 / 0.70 |
    //! | pooled fund's annual cap | 400000 | 250000 |
    //! | class B first self-pay | 0.10 | 0.10 |
    //! | critical illness | deductible 20000; 0–30000 at 0.60, above at 0.70; cap 400000 | the same |
    //! | assistance | low_income 0.70 up to 50000; extreme_poverty 0.90 up to 80000 | the same |
    //! | account may pay | yes | no |

    use super::*;
    use crate::money::to_fen;
    use crate::registry::Insutype;
    use crate::settlement::input::PersonFacts;
    use crate::settlement::policy::tests::wuhan;
    use crate::settlement::policy::{Assistance, CriticalIllness, MechanismTerms, Segment, Terms};
    use crate::settlement::year::{YearToDate, caps, over_caps};
    use std::collections::BTreeMap;
    use chrono::NaiveDate;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn covered(code: &str, quantity: Decimal, price: Decimal, standard: Decimal, class: InsuranceClass, treatment: Treatment) -> SettlementLine {
        SettlementLine { med_list_codg: code.into(), quantity, unit_price: price, coverage: LineCoverage::Covered { standard: Some(standard), basis: StandardBasis::Published, class, treatment } }
    }

    fn employee(balance: Decimal) -> PersonFacts {
        PersonFacts { insutype: Insutype::EmployeeBasic, assistance_category: None, account_balance: balance }
    }

    fn resident(balance: Decimal) -> PersonFacts {
        PersonFacts { insutype: Insutype::ResidentBasic, assistance_category: None, account_balance: balance }
    }

    fn run_under(policy: &SettlementPolicy, lines: Vec<SettlementLine>, person: PersonFacts, level: Level, ytd: Totals) -> Breakdown {
        let input = SettlementInput { lines, person, institution_level: level, year_to_date: ytd, decided: Vec::new() };
        try_settle(policy, &input).expect("a valid policy and input")
    }

    fn run(lines: Vec<SettlementLine>, person: PersonFacts, level: Level, ytd: Totals) -> Breakdown {
        run_under(&wuhan(), lines, person, level, ytd)
    }

    /// The year after the ordinary deductible of a tier-3 institution (800) was used up.
    fn deductible_used() -> Totals {
        Totals { ordinary_deductible: dec!(800), ..Totals::default() }
    }

    /// (medfee, fulamt, overlmt, preselfpay, inscp, deductible, hifp, hifmi, maf, fund, acct, cash, psn_part)
    fn figures(b: &Breakdown) -> [Decimal; 13] {
        [
            b.medfee_sumamt, b.fulamt_ownpay_amt, b.overlmt_selfpay, b.preselfpay_amt, b.inscp_scp_amt, b.act_pay_dedc, b.hifp_pay,
            b.hifmi_pay, b.maf_pay, b.fund_pay_sumamt, b.acct_pay, b.psn_cash_pay, b.psn_part_amt,
        ]
    }

    fn rules(b: &Breakdown) -> Vec<&str> {
        b.steps.iter().map(|s| s.rule.as_str()).collect()
    }

    // S1, class A and B ----------------------------------------------------------------------

    #[test]
    fn a_price_above_the_standard_is_the_patients_and_class_a_is_fully_in_scope() {
        // rule S1: 2 × 110.00 against a standard of 100.00: 220.00, of which 2 × 10.00 = 20.00
        // above the standard; 200.00 in scope; deductible already used; tier 3 ratio 0.70:
        // fund 140.00; share 80.00, all from the account (balance 1000.00)
        let b = run(vec![covered("X1", dec!(2), dec!(110), dec!(100), InsuranceClass::A, Treatment::Ordinary)], employee(dec!(1000)), Level::Third, deductible_used());
        assert_eq!(figures(&b), [dec!(220), dec!(0), dec!(20), dec!(0), dec!(200), dec!(0), dec!(140), dec!(0), dec!(0), dec!(140), dec!(80), dec!(0), dec!(80)]);
        assert_eq!(b.lines[0].payment_standard, Some(dec!(100)));
    }

    #[test]
    fn at_or_below_the_standard_the_actual_price_is_paid_and_class_b_pays_a_share_first() {
        // rule S1: 10 × 9.50 = 95.00 under a standard of 10.00: paid on the actual price;
        // class B pays 10% first: 9.50; in scope 85.50; × 0.70 = 59.85; share 35.15 in cash
        let b = run(vec![covered("X1", dec!(10), dec!(9.5), dec!(10), InsuranceClass::B, Treatment::Ordinary)], employee(dec!(0)), Level::Third, deductible_used());
        assert_eq!(figures(&b), [dec!(95), dec!(0), dec!(0), dec!(9.50), dec!(85.50), dec!(0), dec!(59.85), dec!(0), dec!(0), dec!(59.85), dec!(0), dec!(35.15), dec!(35.15)]);
    }

    #[test]
    fn class_b_above_the_standard_pays_its_share_of_the_standard_only() {
        // rule S1 then class B: 3 × 120.00 = 360.00 against 100.00: 3 × 20.00 = 60.00 above;
        // allowed 300.00; 10% first = 30.00; in scope 270.00; tier 3, deductible used: 270.00 ×
        // 0.70 = 189.00; share 360.00 − 189.00 = 171.00
        let b = run(vec![covered("X1", dec!(3), dec!(120), dec!(100), InsuranceClass::B, Treatment::Ordinary)], employee(dec!(0)), Level::Third, deductible_used());
        assert_eq!(figures(&b), [dec!(360), dec!(0), dec!(60), dec!(30), dec!(270), dec!(0), dec!(189), dec!(0), dec!(0), dec!(189), dec!(0), dec!(171), dec!(171)]);
    }

    // S2, S3, S4 -----------------------------------------------------------------------------

    #[test]
    fn separate_payment_has_no_deductible() {
        // rule S2: nothing of the year's deductible used, yet none applies; class B: 5000.00 ×
        // 10% = 500.00 first; 4500.00 × the tier-3 inpatient ratio 0.80 = 3600.00; the patient
        // 1400.00, of which the account pays 1000.00
        let b = run(vec![covered("S1", dec!(1), dec!(5000), dec!(5000), InsuranceClass::B, Treatment::SeparatePayment)], employee(dec!(1000)), Level::Third, Totals::default());
        assert_eq!(figures(&b), [dec!(5000), dec!(0), dec!(0), dec!(500), dec!(4500), dec!(0), dec!(3600), dec!(0), dec!(0), dec!(3600), dec!(1000), dec!(400), dec!(1400)]);
        // the compliant self-pay toward critical illness: 4500.00 − 3600.00 = 900.00
        assert_eq!(b.accrual, Totals { pooled: dec!(3600), critical_illness_base: dec!(900), ..Totals::default() });
        assert!(rules(&b).contains(&"S2"), "{:?}", b.steps);
    }

    #[test]
    fn the_prescribing_institutions_level_decides_the_deductible_and_the_ratio() {
        // rule S3, a pharmacy sale of 1 × 1000.00 class A from an empty year: prescribed at
        // tier 2: (1000.00 − 400.00) × 0.75 = 450.00; at tier 3: (1000.00 − 800.00) × 0.70 =
        // 140.00
        let line = || vec![covered("X1", dec!(1), dec!(1000), dec!(1000), InsuranceClass::A, Treatment::Ordinary)];
        let tier2 = run(line(), employee(dec!(0)), Level::Second, Totals::default());
        let tier3 = run(line(), employee(dec!(0)), Level::Third, Totals::default());
        assert_eq!((tier2.act_pay_dedc, tier2.hifp_pay), (dec!(400), dec!(450)));
        assert_eq!((tier3.act_pay_dedc, tier3.hifp_pay), (dec!(800), dec!(140)));
        // with the deductible used: 1000.00 × 0.75 = 750.00 and × 0.70 = 700.00
        let used = Totals { ordinary_deductible: dec!(800), ..Totals::default() };
        assert_eq!(run(line(), employee(dec!(0)), Level::Second, used.clone()).hifp_pay, dec!(750));
        assert_eq!(run(line(), employee(dec!(0)), Level::Third, used).hifp_pay, dec!(700));
    }

    #[test]
    fn a_year_that_used_part_of_a_deductible_pays_only_the_rest() {
        // tier 3: 800.00 − 650.00 = 150.00 open; (1000.00 − 150.00) × 0.70 = 595.00
        let year = Totals { ordinary_deductible: dec!(650), ..Totals::default() };
        let b = run(vec![covered("X1", dec!(1), dec!(1000), dec!(1000), InsuranceClass::A, Treatment::Ordinary)], employee(dec!(0)), Level::Third, year);
        assert_eq!((b.act_pay_dedc, b.hifp_pay, b.accrual.ordinary_deductible), (dec!(150), dec!(595), dec!(150)));
    }

    /// The example policy with the mechanism's annual maximum on `basis`.
    fn with_basis(basis: AnnualMaxBasis) -> SettlementPolicy {
        let mut policy = wuhan();
        policy.employee.outpatient_negotiated.annual_max_basis = basis;
        policy.resident.outpatient_negotiated.annual_max_basis = basis;
        policy
    }

    #[test]
    fn the_outpatient_mechanism_reaches_the_drugs_annual_maximum_on_the_third_purchase() {
        // rule S4 on the fund_payment basis: deductible 300.00, ratio 0.70, the drug's annual
        // maximum 10000.00 of the fund's payments
        // 1st: (6000.00 − 300.00) × 0.70 = 3990.00; 2nd: 6000.00 × 0.70 = 4200.00 (8190.00 in
        // the year); 3rd: 4200.00 computed, 10000.00 − 8190.00 = 1810.00 left
        let policy = with_basis(AnnualMaxBasis::FundPayment);
        let line = || covered("O1", dec!(1), dec!(6000), dec!(6000), InsuranceClass::A, Treatment::OutpatientNegotiated { annual_max: dec!(10000) });
        let mut year = YearToDate::default();
        let mut paid = Vec::new();
        for _ in 0..3 {
            let b = run_under(&policy, vec![line()], employee(dec!(0)), Level::Second, year.clone());
            paid.push((b.act_pay_dedc, b.hifp_pay, b.psn_part_amt));
            year = year.plus(&b.accrual);
        }
        assert_eq!(paid, [(dec!(300), dec!(3990), dec!(2010)), (dec!(0), dec!(4200), dec!(1800)), (dec!(0), dec!(1810), dec!(4190))]);
        assert_eq!((year.per_drug["O1"], year.pooled, year.outpatient_deductible), (dec!(10000), dec!(10000), dec!(300)));
        // the cost is counted too, uncapped on this basis: 3 × 6000.00
        assert_eq!(year.per_drug_cost["O1"], dec!(18000));
        // the ordinary deductible is untouched by the mechanism
        assert_eq!(year.ordinary_deductible, dec!(0));
        // a fourth purchase gets nothing from the pooled fund, and the step names the basis
        let fourth = run_under(&policy, vec![line()], employee(dec!(0)), Level::Second, year);
        assert_eq!(fourth.hifp_pay, dec!(0));
        assert!(fourth.steps.iter().any(|s| s.rule == "S4" && s.what.contains("fund's payments") && s.input.contains("paid this year 10000")), "{:?}", fourth.steps);
    }

    #[test]
    fn on_the_eligible_cost_basis_the_drugs_cost_is_capped_and_the_rest_is_the_patients() {
        // rule S4 as 004_… words it (最高支付限额按该药品说明书年度最高药品费用确定): the annual
        // maximum 10000.00 limits the drug's eligible cost counted in the year. Deductible
        // 300.00, ratio 0.70, 6000.00 a purchase:
        // 1st: 6000.00 counted; (6000.00 − 300.00) × 0.70 = 3990.00;
        // 2nd: 10000.00 − 6000.00 = 4000.00 left: 4000.00 counted of 6000.00 in scope;
        //      4000.00 × 0.70 = 2800.00; the 2000.00 beyond the maximum is the patient's;
        // 3rd: nothing left: nothing counted, nothing paid.
        // On the fund_payment basis the fund paid 10000.00 over the same three purchases (the
        // test above); here it pays 0.70 × (10000.00 − 300.00) = 6790.00.
        let policy = with_basis(AnnualMaxBasis::EligibleCost);
        let line = || covered("O1", dec!(1), dec!(6000), dec!(6000), InsuranceClass::A, Treatment::OutpatientNegotiated { annual_max: dec!(10000) });
        let mut year = YearToDate::default();
        let mut paid = Vec::new();
        let mut steps = Vec::new();
        for _ in 0..3 {
            let b = run_under(&policy, vec![line()], employee(dec!(0)), Level::Second, year.clone());
            paid.push((b.inscp_scp_amt, b.act_pay_dedc, b.hifp_pay, b.psn_part_amt, b.accrual.per_drug_cost.get("O1").copied()));
            // the national identities hold: the part beyond the maximum stays in scope, unpaid
            assert_eq!(b.medfee_sumamt, b.fulamt_ownpay_amt + b.overlmt_selfpay + b.preselfpay_amt + b.inscp_scp_amt);
            assert_eq!(b.medfee_sumamt, b.fund_pay_sumamt + b.psn_part_amt);
            year = year.plus(&b.accrual);
            steps.push(b.steps);
        }
        assert_eq!(
            paid,
            [
                (dec!(6000), dec!(300), dec!(3990), dec!(2010), Some(dec!(6000))),
                (dec!(6000), dec!(0), dec!(2800), dec!(3200), Some(dec!(4000))),
                (dec!(6000), dec!(0), dec!(0), dec!(6000), None),
            ]
        );
        assert_eq!((year.per_drug_cost["O1"], year.per_drug["O1"], year.pooled), (dec!(10000), dec!(6790), dec!(6790)));
        // the steps name the basis on every purchase, and where the maximum bit
        for purchase in &steps {
            assert!(purchase.iter().any(|s| s.rule == "S4" && s.input.contains("annual maximum 10000 on the drug's eligible cost (eligible_cost)")), "{purchase:?}");
        }
        let bit = steps[1].iter().find(|s| s.what.contains("on its eligible cost")).expect("the cap's step");
        assert_eq!((bit.input.as_str(), bit.output.as_str()), ("O1: maximum 10000, eligible cost counted this year 6000.00: 4000.00 left; in scope 6000.00", "counted 4000.00; beyond the maximum 2000.00"));
        assert!(!steps[0].iter().any(|s| s.what.contains("on its eligible cost")), "the first purchase fits: {:?}", steps[0]);
    }

    #[test]
    fn the_labels_annual_cost_is_met_by_purchases_of_that_cost_not_more() {
        // the figures: 麦格司他, maximum 281000.00, the fund paying 0.70. On the
        // fund_payment basis the fund reaches 281000.00 only after about 401,000 of purchases;
        // on eligible_cost the cost counted stops at 281000.00 and the fund at 0.70 × (281000.00
        // − 300.00) = 196490.00
        let line = |price| covered("O1", dec!(1), price, price, InsuranceClass::A, Treatment::OutpatientNegotiated { annual_max: dec!(281000) });
        let year = |policy: &SettlementPolicy| {
            let mut year = YearToDate::default();
            for _ in 0..5 {
                let b = run_under(policy, vec![line(dec!(80300))], employee(dec!(0)), Level::Third, year.clone());
                year = year.plus(&b.accrual);
            }
            year
        };
        let cost = year(&with_basis(AnnualMaxBasis::EligibleCost));
        assert_eq!((cost.per_drug_cost["O1"], cost.per_drug["O1"]), (dec!(281000), dec!(196490)));
        let payment = year(&with_basis(AnnualMaxBasis::FundPayment));
        assert_eq!((payment.per_drug_cost["O1"], payment.per_drug["O1"]), (dec!(401500), dec!(280840)));
    }

    #[test]
    fn the_mechanism_deductible_is_taken_by_its_drugs_in_line_order() {
        // rule S4, an empty year: O1 200.00 takes 200.00 of the 300.00 deductible, O2 500.00
        // the other 100.00; O1: 0.00; O2: (500.00 − 100.00) × 0.70 = 280.00. An ordinary line
        // beside them has its own deductible: tier 3, (100.00 − 100.00) × 0.70 = 0.00
        let mechanism = |code: &str, price| covered(code, dec!(1), price, price, InsuranceClass::A, Treatment::OutpatientNegotiated { annual_max: dec!(10000) });
        let lines = vec![mechanism("O1", dec!(200)), covered("X1", dec!(1), dec!(100), dec!(100), InsuranceClass::A, Treatment::Ordinary), mechanism("O2", dec!(500))];
        let b = run(lines, employee(dec!(0)), Level::Third, Totals::default());
        let detail: Vec<_> = b.lines.iter().map(|l| (l.act_pay_dedc, l.hifp_pay)).collect();
        assert_eq!(detail, [(dec!(200), dec!(0)), (dec!(100), dec!(0)), (dec!(100), dec!(280))]);
        assert_eq!((b.accrual.outpatient_deductible, b.accrual.ordinary_deductible), (dec!(300), dec!(100)));
        // a drug the fund paid nothing for is not counted toward its maximum
        assert_eq!(b.accrual.per_drug, BTreeMap::from([("O2".to_string(), dec!(280))]));
    }

    // C4, C6 ---------------------------------------------------------------------------------

    #[test]
    fn a_transition_drug_is_paid_at_its_old_standard() {
        // rule C4: dropped by the new edition, paid at its old standard 80.00 until 2025-06-30:
        // 100.00 − 80.00 = 20.00 above it; 80.00 × 0.70 = 56.00
        let mut line = covered("T1", dec!(1), dec!(100), dec!(80), InsuranceClass::A, Treatment::Ordinary);
        line.coverage = LineCoverage::Covered {
            standard: Some(dec!(80)),
            basis: StandardBasis::Transition { until: NaiveDate::from_ymd_opt(2025, 6, 30).unwrap() },
            class: InsuranceClass::A,
            treatment: Treatment::Ordinary,
        };
        let b = run(vec![line], employee(dec!(0)), Level::Third, deductible_used());
        assert_eq!((b.overlmt_selfpay, b.hifp_pay, b.lines[0].payment_standard), (dec!(20), dec!(56), Some(dec!(80))));
        assert!(b.steps.iter().any(|s| s.rule == "C4" && s.input.contains("2025-06-30")), "{:?}", b.steps);
    }

    #[test]
    fn a_confidential_standard_is_used_but_never_shown() {
        // rule C6: 3 × 5000.00 against the confidential 4321.57: 3 × 678.43 = 2035.29 above
        // it; in scope 15000.00 − 2035.29 = 12964.71; tier 3 separate payment × 0.80 =
        // 10371.768 → 10371.77. (The in-scope amount follows from the standard, as the national
        // interface has it; a breakdown goes only to the settlement's parties.)
        let mut line = covered("C1", dec!(3), dec!(5000), dec!(4321.57), InsuranceClass::A, Treatment::SeparatePayment);
        if let LineCoverage::Covered { basis, .. } = &mut line.coverage {
            *basis = StandardBasis::Confidential;
        }
        let input = SettlementInput { lines: vec![line], person: employee(dec!(0)), institution_level: Level::Third, year_to_date: Totals::default(), decided: Vec::new() };
        let b = try_settle(&wuhan(), &input).unwrap();
        assert_eq!((b.overlmt_selfpay, b.inscp_scp_amt, b.hifp_pay), (dec!(2035.29), dec!(12964.71), dec!(10371.77)));
        assert_eq!(b.lines[0].payment_standard, None);
        assert!(b.steps.iter().any(|s| s.rule == "C6" && s.output == "standard withheld"), "{:?}", b.steps);
        let shown = format!("{b:?} {} {input:?}", serde_json::to_string(&b).unwrap());
        assert!(!shown.contains("4321.57") && !shown.contains("4321"), "{shown}");
    }

    // S7 -------------------------------------------------------------------------------------

    #[test]
    fn critical_illness_crosses_its_deductible_and_two_segments_then_assistance_follows() {
        // rule S7. Separate payment, 300000.00 class A at tier 3: the pooled fund 240000.00;
        // compliant self-pay 60000.00; the year had 10000.00 before, so 10000.00–70000.00
        // against the deductible of 20000.00: −10000.00 to 50000.00 above it: 30000.00 in the
        // first segment at 0.60 = 18000.00 and 20000.00 in the second at 0.70 = 14000.00:
        // 32000.00. Low-income assistance: (300000.00 − 240000.00 − 32000.00) × 0.70 =
        // 19600.00. The patient 8400.00: 5000.00 from the account, 3400.00 in cash.
        let person = PersonFacts { assistance_category: Some("low_income".into()), ..employee(dec!(5000)) };
        let year = Totals { critical_illness_base: dec!(10000), ..Totals::default() };
        let b = run(vec![covered("S1", dec!(1), dec!(300000), dec!(300000), InsuranceClass::A, Treatment::SeparatePayment)], person, Level::Third, year);
        assert_eq!(figures(&b), [dec!(300000), dec!(0), dec!(0), dec!(0), dec!(300000), dec!(0), dec!(240000), dec!(32000), dec!(19600), dec!(291600), dec!(5000), dec!(3400), dec!(8400)]);
        assert_eq!((b.accrual.critical_illness_base, b.accrual.critical_illness, b.accrual.assistance), (dec!(60000), dec!(32000), dec!(19600)));
        // basic, then critical illness, then assistance (S7)
        let order: Vec<&str> = b.steps.iter().filter(|s| s.what.starts_with("critical") || s.what.starts_with("medical") || s.what.starts_with("pooled")).map(|s| &s.what[..3]).collect();
        assert_eq!(order, ["poo", "cri", "med"]);
    }

    #[test]
    fn critical_illness_below_its_deductible_pays_nothing_and_stops_at_its_cap() {
        // 10000.00 separate payment at tier 3: pooled 8000.00, self-pay 2000.00; a year at
        // 5000.00 reaches 7000.00, below 20000.00: nothing
        let line = || vec![covered("S1", dec!(1), dec!(10000), dec!(10000), InsuranceClass::A, Treatment::SeparatePayment)];
        let below = run(line(), employee(dec!(0)), Level::Third, Totals { critical_illness_base: dec!(5000), ..Totals::default() });
        assert_eq!((below.hifmi_pay, below.accrual.critical_illness_base), (dec!(0), dec!(2000)));
        // a year far above the deductible: 2000.00 × 0.70 = 1400.00, but 400000.00 − 399000.00
        // = 1000.00 is left of the cap
        let year = Totals { critical_illness_base: dec!(900000), critical_illness: dec!(399000), ..Totals::default() };
        let capped = run(line(), employee(dec!(0)), Level::Third, year);
        assert_eq!((capped.hifmi_pay, capped.psn_part_amt), (dec!(1000), dec!(1000)));
    }

    #[test]
    fn medical_assistance_stops_at_its_cap_and_an_unknown_category_gets_none() {
        // 1000.00 separate payment at tier 3: pooled 800.00; 200.00 remains, below the
        // critical-illness deductible; low income: 200.00 × 0.70 = 140.00, but 50000.00 −
        // 49990.00 = 10.00 is left of the cap
        let line = || vec![covered("S1", dec!(1), dec!(1000), dec!(1000), InsuranceClass::A, Treatment::SeparatePayment)];
        let low_income = PersonFacts { assistance_category: Some("low_income".into()), ..employee(dec!(0)) };
        let b = run(line(), low_income, Level::Third, Totals { assistance: dec!(49990), ..Totals::default() });
        assert_eq!((b.maf_pay, b.fund_pay_sumamt, b.psn_part_amt), (dec!(10), dec!(810), dec!(190)));
        // extreme poverty: 200.00 × 0.90 = 180.00
        let poorest = PersonFacts { assistance_category: Some("extreme_poverty".into()), ..employee(dec!(0)) };
        assert_eq!(run(line(), poorest, Level::Third, Totals::default()).maf_pay, dec!(180));
        // a category the region's policy does not name: no assistance, and the step says so
        let unknown = PersonFacts { assistance_category: Some("veteran".into()), ..employee(dec!(0)) };
        let b = run(line(), unknown, Level::Third, Totals::default());
        assert_eq!(b.maf_pay, dec!(0));
        assert!(b.steps.iter().any(|s| s.what.contains("no such category") && s.input == "veteran"), "{:?}", b.steps);
    }

    #[test]
    fn the_personal_account_pays_the_share_only_where_the_policy_lets_it() {
        // the first example's share of 80.00: the account pays it all from 1000.00; with 30.00
        // in the account, 30.00 and 50.00 in cash
        let line = || vec![covered("X1", dec!(2), dec!(110), dec!(100), InsuranceClass::A, Treatment::Ordinary)];
        let b = run(line(), employee(dec!(30)), Level::Third, deductible_used());
        assert_eq!((b.acct_pay, b.psn_cash_pay, b.psn_part_amt), (dec!(30), dec!(50), dec!(80)));
        // a region whose policy keeps the account out: all 80.00 in cash
        let mut policy = wuhan();
        policy.employee.account_may_pay = false;
        let b = run_under(&policy, line(), employee(dec!(1000)), Level::Third, deductible_used());
        assert_eq!((b.acct_pay, b.psn_cash_pay), (dec!(0), dec!(80)));
    }

    #[test]
    fn an_employee_and_a_resident_buying_the_same_get_their_own_schemes_terms() {
        // 1 × 1000.00 class A, ordinary, tier 2, an empty year, 500.00 in the account.
        // employee: (1000.00 − 400.00) × 0.75 = 450.00; share 550.00, 500.00 from the account.
        // resident: (1000.00 − 300.00) × 0.60 = 420.00; share 580.00, all cash (no account
        // payment under the resident scheme's terms, whatever the balance)
        let line = || vec![covered("X1", dec!(1), dec!(1000), dec!(1000), InsuranceClass::A, Treatment::Ordinary)];
        let e = run(line(), employee(dec!(500)), Level::Second, Totals::default());
        let r = run(line(), resident(dec!(500)), Level::Second, Totals::default());
        assert_eq!((e.act_pay_dedc, e.hifp_pay, e.acct_pay, e.psn_cash_pay), (dec!(400), dec!(450), dec!(500), dec!(50)));
        assert_eq!((r.act_pay_dedc, r.hifp_pay, r.acct_pay, r.psn_cash_pay), (dec!(300), dec!(420), dec!(0), dec!(580)));
    }

    // the pooled fund's cap and rounding ------------------------------------------------------

    #[test]
    fn the_pooled_fund_stops_at_its_annual_cap_taking_the_lines_in_order() {
        // tier 3, deductible used: S1 1000.00 × 0.80 = 800.00 and X1 100.00 × 0.70 = 70.00
        // computed; 400000.00 − 399900.00 = 100.00 left this year: S1 takes 100.00, X1 none.
        // Critical illness counts the rest: 1100.00 − 100.00 = 1000.00 self-pay
        let lines = vec![
            covered("S1", dec!(1), dec!(1000), dec!(1000), InsuranceClass::A, Treatment::SeparatePayment),
            covered("X1", dec!(1), dec!(100), dec!(100), InsuranceClass::A, Treatment::Ordinary),
        ];
        let year = Totals { pooled: dec!(399900), ..deductible_used() };
        let b = run(lines, employee(dec!(0)), Level::Third, year.clone());
        assert_eq!((b.hifp_pay, b.lines[0].hifp_pay, b.lines[1].hifp_pay), (dec!(100), dec!(100), dec!(0)));
        assert_eq!((b.accrual.pooled, b.accrual.critical_illness_base), (dec!(100), dec!(1000)));
        assert_eq!(year.plus(&b.accrual).pooled, wuhan().employee.annual_pooled_cap);
    }

    #[test]
    fn the_pooled_fund_is_rounded_once_per_group_and_split_so_the_lines_add_up() {
        // three ordinary lines of 10.15 at tier 3, deductible used: each 10.15 × 0.70 = 7.105.
        // Once for the group: 30.45 × 0.70 = 21.315 → 21.32 (three roundings would give 21.33).
        // Lines: running totals 7.105 → 7.11, 14.21 → 14.21, 21.315 → 21.32: 7.11, 7.10, 7.11
        let line = |code: &str| covered(code, dec!(1), dec!(10.15), dec!(20), InsuranceClass::A, Treatment::Ordinary);
        let b = run(vec![line("X1"), line("X2"), line("X3")], employee(dec!(0)), Level::Third, deductible_used());
        assert_eq!(b.hifp_pay, dec!(21.32));
        let shares: Vec<Decimal> = b.lines.iter().map(|l| l.hifp_pay).collect();
        assert_eq!(shares, [dec!(7.11), dec!(7.10), dec!(7.11)]);
        assert!(rules(&b).contains(&"S8"), "the split is a step: {:?}", b.steps);
    }

    #[test]
    fn a_settlement_that_raced_past_the_cap_is_computed_again_and_then_fits() {
        // two pharmacies settle 1000.00 of separate payment each (800.00 from the pooled fund)
        // for a person with 399000.00 paid this year: each computes 800.00 from the same year.
        // The first adds its 800.00 (399800.00); the second's total would be 400600.00, past
        // the cap: it gives back and computes again from 399800.00: 200.00, which fits exactly.
        let policy = wuhan();
        let lines = vec![covered("S1", dec!(1), dec!(1000), dec!(1000), InsuranceClass::A, Treatment::SeparatePayment)];
        let person = employee(dec!(0));
        let caps = caps(policy.scheme(person.insutype), Level::Third, &person, &lines);
        let year = Totals { pooled: dec!(399000), ..Totals::default() };
        let first = run(lines.clone(), person.clone(), Level::Third, year.clone());
        let second = run(lines.clone(), person.clone(), Level::Third, year.clone());
        let after_first = year.plus(&first.accrual);
        assert_eq!(over_caps(&caps, &first.accrual, &after_first), Vec::<String>::new());
        assert_eq!(over_caps(&caps, &second.accrual, &after_first.plus(&second.accrual)), ["pooled"]);
        let again = run(lines, person, Level::Third, after_first.clone());
        assert_eq!(again.hifp_pay, dec!(200));
        assert_eq!(over_caps(&caps, &again.accrual, &after_first.plus(&again.accrual)), Vec::<String>::new());
    }

    // not covered, wire format, bad input ----------------------------------------------------

    #[test]
    fn a_line_not_covered_is_paid_in_full_by_the_patient() {
        let line = SettlementLine { med_list_codg: "Z1".into(), quantity: dec!(3), unit_price: dec!(12.345), coverage: LineCoverage::NotCovered { reason: "not on a list".into() } };
        let b = run(vec![line], employee(dec!(0)), Level::Third, Totals::default());
        // 3 × 12.345 = 37.035 → 37.04 (half up, S8); the account pays nothing of a share it
        // has no balance for
        assert_eq!(figures(&b), [dec!(37.04), dec!(37.04), dec!(0), dec!(0), dec!(0), dec!(0), dec!(0), dec!(0), dec!(0), dec!(0), dec!(0), dec!(37.04), dec!(37.04)]);
        assert_eq!((b.lines[0].treatment, b.accrual.clone()), (None, Totals::default()));
    }

    #[test]
    fn a_drug_without_a_standard_is_paid_on_its_price() {
        // a regular catalogue drug: 4 × 25.00 = 100.00 all in scope; × 0.70 = 70.00
        let mut line = covered("R1", dec!(4), dec!(25), dec!(0), InsuranceClass::A, Treatment::Ordinary);
        line.coverage = LineCoverage::Covered { standard: None, basis: StandardBasis::Published, class: InsuranceClass::A, treatment: Treatment::Ordinary };
        let b = run(vec![line], employee(dec!(0)), Level::Third, deductible_used());
        assert_eq!((b.overlmt_selfpay, b.inscp_scp_amt, b.hifp_pay, b.lines[0].payment_standard), (dec!(0), dec!(100), dec!(70), None));
    }

    #[test]
    fn the_breakdown_speaks_the_national_field_names_with_amounts_as_strings() {
        let b = run(vec![covered("X1", dec!(2), dec!(110), dec!(100), InsuranceClass::A, Treatment::Ordinary)], employee(dec!(1000)), Level::Third, deductible_used());
        let json = serde_json::to_value(&b).unwrap();
        for (field, amount) in [
            ("medfee_sumamt", "220.00"),
            ("fulamt_ownpay_amt", "0.00"),
            ("overlmt_selfpay", "20.00"),
            ("preselfpay_amt", "0.00"),
            ("inscp_scp_amt", "200.00"),
            ("act_pay_dedc", "0.00"),
            ("hifp_pay", "140.00"),
            ("hifmi_pay", "0.00"),
            ("maf_pay", "0.00"),
            ("fund_pay_sumamt", "140.00"),
            ("acct_pay", "80.00"),
            ("psn_cash_pay", "0.00"),
            ("psn_part_amt", "80.00"),
        ] {
            assert_eq!(json[field], amount, "{field} in {json}");
        }
        assert_eq!(json["lines"][0]["hifp_pay"], "140.00");
        assert_eq!(json["lines"][0]["treatment"], serde_json::json!({"kind": "ordinary"}));
        assert_eq!(json["accrual"]["pooled"], "140.00");
        assert_eq!(serde_json::from_value::<Breakdown>(json).unwrap(), b);
    }

    #[test]
    fn a_bad_policy_or_input_is_every_problem_at_once_not_a_panic() {
        let mut policy = wuhan();
        policy.resident.annual_pooled_cap = dec!(-1);
        let input = SettlementInput {
            lines: vec![covered("X1", Decimal::MAX, Decimal::MAX, dec!(1), InsuranceClass::A, Treatment::Ordinary)],
            person: employee(dec!(-1)),
            institution_level: Level::First,
            year_to_date: Totals::default(),
            decided: Vec::new(),
        };
        let fields: Vec<String> = try_settle(&policy, &input).unwrap_err().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["/policy/resident/annual_pooled_cap", "/lines/0/quantity", "/lines/0/unit_price", "/account_balance"]);
    }

    // properties -----------------------------------------------------------------------------

    fn ratio() -> impl Strategy<Value = Decimal> {
        (0i64..=10_000).prop_map(|n| Decimal::new(n, 4))
    }

    /// A yuan amount up to `max` yuan, in fen.
    fn amount(max: i64) -> impl Strategy<Value = Decimal> {
        (0..=max * 100).prop_map(|fen| Decimal::new(fen, 2))
    }

    fn any_scheme() -> impl Strategy<Value = SchemeTerms> {
        let terms = || (amount(2_000), ratio()).prop_map(|(deductible, ratio)| Terms { deductible, ratio });
        let basis = prop::sample::select(vec![AnnualMaxBasis::EligibleCost, AnnualMaxBasis::FundPayment]);
        let mechanism = (amount(2_000), ratio(), basis).prop_map(|(deductible, ratio, annual_max_basis)| MechanismTerms { deductible, ratio, annual_max_basis, unregistered: Default::default() });
        // caps low enough to be reached now and then, or high enough never to be
        let cap = || prop_oneof![amount(20_000), amount(2_000_000)];
        let segments = (prop::collection::vec((1i64..5_000_000, ratio()), 0..3), ratio()).prop_map(|(closed, last)| {
            let mut from = Decimal::ZERO;
            let mut segments: Vec<Segment> = closed
                .into_iter()
                .map(|(width, ratio)| {
                    let to = from + Decimal::new(width, 2);
                    let segment = Segment { from, to: Some(to), ratio };
                    from = to;
                    segment
                })
                .collect();
            segments.push(Segment { from, to: None, ratio: last });
            segments
        });
        let illness = (amount(30_000), segments, cap()).prop_map(|(deductible, segments, annual_cap)| CriticalIllness { deductible, segments, annual_cap });
        let assistance = (ratio(), cap()).prop_map(|(ratio, annual_cap)| BTreeMap::from([("low_income".to_string(), Assistance { ratio, annual_cap })]));
        (
            (terms(), terms(), terms()),
            (ratio(), ratio(), ratio()),
            mechanism,
            cap(),
            ratio(),
            illness,
            assistance,
            any::<bool>(),
        )
            .prop_map(|(ordinary, separate, outpatient_negotiated, annual_pooled_cap, class_b_first_self_pay, critical_illness, assistance, account_may_pay)| SchemeTerms {
                ordinary: crate::settlement::ByLevel { first: ordinary.0, second: ordinary.1, third: ordinary.2 },
                separate_payment: crate::settlement::ByLevel { first: separate.0, second: separate.1, third: separate.2 },
                outpatient_negotiated,
                annual_pooled_cap,
                class_b_first_self_pay,
                critical_illness,
                assistance,
                account_may_pay,
            })
    }

    fn any_policy() -> impl Strategy<Value = SettlementPolicy> {
        (any_scheme(), any_scheme()).prop_map(|(employee, resident)| SettlementPolicy { employee, resident })
    }

    /// The annual maximum of the mechanism drugs the lines use.
    fn annual_max(code: &str) -> Decimal {
        if code == "O1" { dec!(8000) } else { dec!(3000) }
    }

    /// A line of up to `tenths` / 10 units at up to `fen` / 100 yuan.
    fn line_up_to(tenths: i64, fen: i64) -> impl Strategy<Value = SettlementLine> {
        let code = prop::sample::select(vec!["A1", "A2", "O1", "O2", "S1"]);
        (code, 1i64..tenths, 0i64..fen, 0i64..fen, any::<bool>(), 0u8..4, 0u8..3).prop_map(|(code, qty, price, standard, class_b, kind, basis)| {
            let treatment = match kind {
                0 => Treatment::Ordinary,
                1 => Treatment::SeparatePayment,
                _ => Treatment::OutpatientNegotiated { annual_max: annual_max(code) },
            };
            let coverage = if kind == 3 && code.starts_with('A') {
                LineCoverage::NotCovered { reason: "none".into() }
            } else {
                let class = if class_b { InsuranceClass::B } else { InsuranceClass::A };
                // a drug without a standard now and then (a regular catalogue drug)
                let standard = (standard % 7 != 0).then(|| Decimal::new(standard, 2));
                let basis = match basis {
                    0 => StandardBasis::Published,
                    1 => StandardBasis::Confidential,
                    _ => StandardBasis::Transition { until: NaiveDate::from_ymd_opt(2025, 6, 30).unwrap() },
                };
                LineCoverage::Covered { standard, basis, class, treatment }
            };
            SettlementLine { med_list_codg: code.into(), quantity: Decimal::new(qty, 1), unit_price: Decimal::new(price, 2), coverage }
        })
    }

    /// Large purchases that reach caps, and small ones that mostly do not.
    fn any_line() -> impl Strategy<Value = SettlementLine> {
        prop_oneof![line_up_to(2_000, 2_000_000), line_up_to(50, 50_000)]
    }

    fn any_year() -> impl Strategy<Value = Totals> {
        (0i64..100_000, 0i64..3_000_000, 0i64..900_000, 0i64..10_000_000, 0i64..4_000_000, 0i64..1_000_000).prop_map(|(ded, pooled, drug, base, illness, assistance)| Totals {
            ordinary_deductible: Decimal::new(ded, 2),
            outpatient_deductible: Decimal::new(ded / 3, 2),
            pooled: Decimal::new(pooled, 2),
            per_drug: BTreeMap::from([("O1".to_string(), Decimal::new(drug, 2))]),
            per_drug_cost: BTreeMap::from([("O1".to_string(), Decimal::new(drug * 3 / 2, 2))]),
            critical_illness_base: Decimal::new(base, 2),
            critical_illness: Decimal::new(illness, 2),
            assistance: Decimal::new(assistance, 2),
        })
    }

    fn any_level() -> impl Strategy<Value = Level> {
        prop::sample::select(vec![Level::First, Level::Second, Level::Third])
    }

    fn any_input() -> impl Strategy<Value = SettlementInput> {
        input_of(any_line())
    }

    fn input_of(line: impl Strategy<Value = SettlementLine>) -> impl Strategy<Value = SettlementInput> {
        (prop::collection::vec(line, 1..6), any_year(), 0i64..10_000_000, any::<bool>(), 0u8..3, any_level()).prop_map(|(lines, ytd, balance, resident, assisted, level)| SettlementInput {
            lines,
            person: PersonFacts {
                insutype: if resident { Insutype::ResidentBasic } else { Insutype::EmployeeBasic },
                assistance_category: [None, Some("low_income".to_string()), Some("unknown".to_string())][assisted as usize].clone(),
                account_balance: Decimal::new(balance, 2),
            },
            institution_level: level,
            year_to_date: ytd,
            decided: Vec::new(),
        })
    }

    /// Any decimal at all, most of them out of every bound.
    fn any_decimal() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            (any::<i64>(), 0u32..=28).prop_map(|(m, s)| Decimal::new(m, s)),
            (any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>(), 0u32..=28).prop_map(|(lo, mid, hi, neg, s)| Decimal::from_parts(lo, mid, hi, neg, s)),
            (-1_000_000i64..1_000_000).prop_map(|fen| Decimal::new(fen, 2)),
        ]
    }

    proptest! {
        #[test]
        fn the_invariants_hold_for_any_settlement(policy in any_policy(), input in any_input()) {
            prop_assert_eq!(policy.problems(), []);
            prop_assert_eq!(input.problems(), []);
            let b = settle(&policy, &input);
            let line_amounts = b.lines.iter().flat_map(|l| [l.medfee, l.fulamt_ownpay_amt, l.overlmt_selfpay, l.preselfpay_amt, l.inscp_scp_amt, l.act_pay_dedc, l.hifp_pay]);
            let accrual = b.accrual.by_name();
            for amount in figures(&b).into_iter().chain(line_amounts).chain(accrual.values().copied()) {
                prop_assert!(amount >= Decimal::ZERO && amount.scale() == 2, "{} in {:?}", amount, b);
            }
            // the store counts the accrual in whole fen
            for (name, amount) in &accrual {
                prop_assert!(to_fen(*amount).is_ok(), "{}: {}", name, amount);
            }
            // the two identities of the national interface, and the patient's share
            prop_assert_eq!(b.medfee_sumamt, b.fulamt_ownpay_amt + b.overlmt_selfpay + b.preselfpay_amt + b.inscp_scp_amt);
            prop_assert_eq!(b.medfee_sumamt, b.fund_pay_sumamt + b.psn_part_amt);
            prop_assert_eq!(b.fund_pay_sumamt, b.hifp_pay + b.hifmi_pay + b.maf_pay);
            prop_assert_eq!(b.psn_part_amt, b.acct_pay + b.psn_cash_pay);
            prop_assert!(b.acct_pay <= input.person.account_balance);
            let terms = policy.scheme(input.person.insutype);
            if !terms.account_may_pay {
                prop_assert_eq!(b.acct_pay, Decimal::ZERO);
            }
            // the lines add up to the totals, each line on its own too
            let sum = |field: fn(&LineDetail) -> Decimal| b.lines.iter().map(field).sum::<Decimal>();
            prop_assert_eq!(sum(|l| l.medfee), b.medfee_sumamt);
            prop_assert_eq!(sum(|l| l.fulamt_ownpay_amt), b.fulamt_ownpay_amt);
            prop_assert_eq!(sum(|l| l.overlmt_selfpay), b.overlmt_selfpay);
            prop_assert_eq!(sum(|l| l.preselfpay_amt), b.preselfpay_amt);
            prop_assert_eq!(sum(|l| l.inscp_scp_amt), b.inscp_scp_amt);
            prop_assert_eq!(sum(|l| l.act_pay_dedc), b.act_pay_dedc);
            prop_assert_eq!(sum(|l| l.hifp_pay), b.hifp_pay);
            for l in &b.lines {
                prop_assert_eq!(l.medfee, l.fulamt_ownpay_amt + l.overlmt_selfpay + l.preselfpay_amt + l.inscp_scp_amt);
                prop_assert!(l.act_pay_dedc + l.hifp_pay <= l.inscp_scp_amt, "{:?}", l);
            }
            prop_assert_eq!(b.accrual.ordinary_deductible + b.accrual.outpatient_deductible, b.act_pay_dedc);
            prop_assert_eq!(b.accrual.pooled, b.hifp_pay);
            // no deductible is used beyond the policy's, no cap passed, from where the year stood
            // (a year already past a cap gets nothing more)
            let after = input.year_to_date.plus(&b.accrual);
            let caps = caps(terms, input.institution_level, &input.person, &input.lines);
            prop_assert_eq!(over_caps(&caps, &b.accrual, &after), Vec::<String>::new());
            let before = input.year_to_date.by_name();
            for (name, total) in after.by_name() {
                if let Some(cap) = caps.get(&name) {
                    let was = before.get(&name).copied().unwrap_or_default();
                    prop_assert!(total <= (*cap).max(was), "{}: {} > {}", name, total, cap);
                }
            }
            prop_assert_eq!(after.minus(&b.accrual), input.year_to_date.clone());
            // a confidential standard is never the line's shown standard (C6)
            for (line, detail) in input.lines.iter().zip(&b.lines) {
                if let LineCoverage::Covered { basis: StandardBasis::Confidential, .. } = line.coverage {
                    prop_assert_eq!(detail.payment_standard, None);
                }
            }
        }

        #[test]
        fn a_confidential_standard_never_appears(policy in any_policy(), input in any_input(), cents in 1i64..100_000_000, odd in 1i64..100) {
            // rule C6: the standard as given is never printed, wherever the line stands. (Amounts
            // computed from it and rounded to the fen are national fields the breakdown must
            // carry; see the module docs.) A secret with 4 places, the last two not 0, cannot
            // coincide with such an amount, so a match here would be the standard itself.
            let secret = Decimal::new(cents * 100 + odd, 4);
            let mut input = input;
            input.lines[0].coverage = LineCoverage::Covered { standard: Some(secret), basis: StandardBasis::Confidential, class: InsuranceClass::A, treatment: Treatment::SeparatePayment };
            input.lines[0].med_list_codg = "C1".into();
            let b = settle(&policy, &input);
            let shown = format!("{:?} {} {:?} {:?}", b, serde_json::to_string(&b).unwrap(), input, input.problems());
            prop_assert!(!shown.contains(&secret.to_string()), "{} in {}", secret, shown);
        }

        #[test]
        fn a_sequence_of_settlements_never_pays_more_than_the_caps(
            policy in any_policy(),
            inputs in prop::collection::vec(any_input(), 1..8),
        ) {
            // from an empty year, one person, settlements in turn
            let mut year = YearToDate::default();
            let mut fund = Decimal::ZERO;
            let insutype = inputs[0].person.insutype;
            let terms = policy.scheme(insutype);
            for input in &inputs {
                let person = PersonFacts { insutype, assistance_category: Some("low_income".into()), ..input.person.clone() };
                let b = settle(&policy, &SettlementInput { year_to_date: year.clone(), person, ..input.clone() });
                fund += b.fund_pay_sumamt;
                year = year.plus(&b.accrual);
            }
            let assistance_cap = terms.assistance["low_income"].annual_cap;
            prop_assert!(year.pooled <= terms.annual_pooled_cap);
            prop_assert!(year.critical_illness <= terms.critical_illness.annual_cap);
            prop_assert!(year.assistance <= assistance_cap);
            prop_assert!(fund <= terms.annual_pooled_cap + terms.critical_illness.annual_cap + assistance_cap);
            for (code, paid) in &year.per_drug {
                prop_assert!(*paid <= annual_max(code), "{}: {}", code, paid);
            }
            let deductibles = [Level::First, Level::Second, Level::Third].map(|l| terms.ordinary.at(l).deductible);
            prop_assert!(year.ordinary_deductible <= deductibles.into_iter().max().unwrap_or_default());
            prop_assert!(year.outpatient_deductible <= terms.outpatient_negotiated.deductible);
        }

        #[test]
        fn on_the_eligible_cost_basis_a_drugs_counted_cost_never_passes_its_maximum(
            policy in any_policy(),
            inputs in prop::collection::vec(any_input(), 1..10),
        ) {
            // rule S4 (eligible_cost): whatever the purchases, the cost counted for a drug stays
            // within its annual maximum, and the fund pays at most its ratio of that (each
            // settlement's payment is rounded once, half up: at most half a fen more each)
            let mut policy = policy;
            policy.employee.outpatient_negotiated.annual_max_basis = AnnualMaxBasis::EligibleCost;
            let terms = policy.employee.clone();
            let mut year = YearToDate::default();
            for input in &inputs {
                let b = settle(&policy, &SettlementInput { year_to_date: year.clone(), person: employee(Decimal::ZERO), ..input.clone() });
                for (line, detail) in input.lines.iter().zip(&b.lines) {
                    prop_assert!(detail.act_pay_dedc + detail.hifp_pay <= detail.inscp_scp_amt, "{:?} {:?}", line, detail);
                }
                year = year.plus(&b.accrual);
            }
            let settlements = Decimal::new(inputs.len() as i64, 0);
            for code in ["O1", "O2"] {
                let cost = year.per_drug_cost.get(code).copied().unwrap_or_default();
                let paid = year.per_drug.get(code).copied().unwrap_or_default();
                prop_assert!(cost <= annual_max(code), "{}: cost {} > {}", code, cost, annual_max(code));
                prop_assert!(paid <= terms.outpatient_negotiated.ratio * annual_max(code) + settlements * dec!(0.005), "{}: paid {}", code, paid);
            }
        }

        #[test]
        fn the_order_of_a_years_settlements_changes_its_pooled_payments_only_by_rounding(
            policy in any_policy(),
            inputs in prop::collection::vec(input_of(line_up_to(50, 50_000)), 2..5),
        ) {
            // the same purchases in the opposite order, from an empty year, one person, one level
            let year = |inputs: &mut dyn Iterator<Item = &SettlementInput>| {
                let mut totals = Totals::default();
                let mut pooled = Decimal::ZERO;
                for input in inputs {
                    let input = SettlementInput { year_to_date: totals.clone(), person: employee(Decimal::ZERO), institution_level: Level::Third, ..input.clone() };
                    let b = settle(&policy, &input);
                    pooled += b.hifp_pay;
                    totals = totals.plus(&b.accrual);
                }
                (pooled, totals)
            };
            let (forward, forward_year) = year(&mut inputs.iter());
            let (backward, backward_year) = year(&mut inputs.iter().rev());
            let terms = &policy.employee;
            let capped = |year: &Totals| {
                year.pooled >= terms.annual_pooled_cap
                    || year.per_drug.iter().any(|(code, paid)| *paid >= annual_max(code))
                    || year.per_drug_cost.iter().any(|(code, cost)| *cost >= annual_max(code))
            };
            // each group's pooled amount is rounded once per settlement, and which settlement the
            // deductible falls on moves that rounding: at most a fen per group (at most one per
            // line) either way
            let lines: usize = inputs.iter().map(|i| i.lines.len()).sum();
            if !capped(&forward_year) && !capped(&backward_year) {
                prop_assert!((forward - backward).abs() <= Decimal::new(lines as i64, 2), "{} vs {}", forward, backward);
            }
        }

        #[test]
        fn any_figures_at_all_are_refused_or_settled_never_a_panic(
            policy in any_policy(),
            input in any_input(),
            wild in prop::collection::vec(any_decimal(), 12),
        ) {
            let mut input = input;
            let mut policy = policy;
            input.lines[0].quantity = wild[0];
            input.lines[0].unit_price = wild[1];
            input.lines[0].coverage = LineCoverage::Covered {
                standard: Some(wild[2]),
                basis: StandardBasis::Published,
                class: InsuranceClass::B,
                treatment: Treatment::OutpatientNegotiated { annual_max: wild[3] },
            };
            input.person.account_balance = wild[4];
            input.year_to_date.pooled = wild[5];
            input.year_to_date.critical_illness_base = wild[6];
            policy.employee.annual_pooled_cap = wild[7];
            policy.employee.ordinary.third.ratio = wild[8];
            policy.employee.class_b_first_self_pay = wild[9];
            policy.employee.critical_illness.segments[0].ratio = wild[10];
            policy.employee.critical_illness.deductible = wild[11];
            match try_settle(&policy, &input) {
                Ok(b) => prop_assert_eq!(b.medfee_sumamt, b.fund_pay_sumamt + b.psn_part_amt),
                Err(problems) => prop_assert!(!problems.is_empty()),
            }
        }
    }
}
