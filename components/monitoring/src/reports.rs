//! The periodic reports (rules M2, S5): a region's month of use and payment, per drug (with
//! each settling party's part) and per settling party, from the region's ledgers. Reads: the
//! month's list of drugs or parties (cached per instance, one version read when unchanged),
//! then two per ledger shard ([`store::ledger::SHARDS`] per drug or party), and one or two per
//! party for its name: the same at 1,000 settlements as at 100,000.

use crate::sheets::{Cell, Table};
use api::query::Query;
use api::{ApiError, ApiResult, Ctx, ErrorCode, Principal, Reply};
use catalogue_view::CatalogueCache;
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use store::ledger::{Dimension, Figures, add_figures, month_totals};
use store::settlement::{ReportedDrug, Settlements};
use store::{LogCache, Registry};

static DRUGS: LogCache<ReportedDrug> = LogCache::new();
static PARTIES: LogCache<String> = LogCache::new();
/// Lives as long as the instance (see `catalogue_view::cache`): drug names.
static CATALOGUE: CatalogueCache = CatalogueCache::new();

/// A drug's figures in a month, by national field name and Chinese label. `patients`: persons
/// who had it settled in the month (each once, at their first settlement; a reversal does not
/// take it back: they were treated).
const DRUG_FIELDS: [(&str, &str); 10] = [
    ("lines", "结算明细条数"),
    ("patients", "患者人数"),
    ("qty", "数量"),
    ("medfee", "医疗费用"),
    ("fulamt_ownpay_amt", "全自费金额"),
    ("overlmt_selfpay", "超限价自费费用"),
    ("preselfpay_amt", "先行自付金额"),
    ("inscp_scp_amt", "符合政策范围金额"),
    ("act_pay_dedc", "实际支付起付线"),
    ("hifp_pay", "统筹基金支出"),
];

/// A party's figures in a month: its settlements (net of reversals), its reversals, and every
/// amount of their breakdowns.
const PARTY_FIELDS: [(&str, &str); 17] = [
    ("settlements", "结算笔数"),
    ("reversals", "冲正笔数"),
    ("medfee_sumamt", "医疗费总额"),
    ("fulamt_ownpay_amt", "全自费金额"),
    ("overlmt_selfpay", "超限价自费费用"),
    ("preselfpay_amt", "先行自付金额"),
    ("inscp_scp_amt", "符合政策范围金额"),
    ("act_pay_dedc", "实际支付起付线"),
    ("hifp_pay", "基本医疗保险统筹基金支出"),
    ("hifmi_pay", "居民大病保险资金支出"),
    ("maf_pay", "医疗救助基金支出"),
    ("fund_pay_sumamt", "基金支付总额"),
    ("acct_pay", "个人账户支出"),
    ("psn_cash_pay", "个人现金支出"),
    ("psn_part_amt", "个人负担总金额"),
    ("separate_payment_medfee", "单独支付药品费用"),
    ("separate_payment_hifp_pay", "单独支付药品统筹基金支出"),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
    Xlsx,
}

/// What every report request names: the region, the month, the format.
struct Asked {
    admdvs: String,
    first_day: NaiveDate,
    format: Format,
    /// A pharmacy or institution reads only its own figures.
    only_party: Option<String>,
}

impl Asked {
    fn parse(ctx: &Ctx) -> ApiResult<Asked> {
        let query = Query::parse(ctx.query());
        let admdvs = query.region()?;
        let first_day = query.text("month").and_then(|m| NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").ok()).ok_or_else(|| api::query::invalid("month", "required: YYYY-MM"))?;
        let format = query.choice("format", &[("json", Format::Json), ("csv", Format::Csv), ("xlsx", Format::Xlsx)])?.unwrap_or(Format::Json);
        let only_party = match &ctx.principal {
            Principal::Pharmacist { fixmedins_code, .. } | Principal::HospitalOffice { fixmedins_code } => Some(fixmedins_code.clone()),
            principal if rules::registry::may_administer(principal, admdvs) => None,
            _ => return Err(ApiError::new(ErrorCode::OutOfRegion, format!("the caller does not administer region {admdvs}"))),
        };
        Ok(Asked { admdvs: admdvs.to_string(), first_day, format, only_party })
    }

    /// `YYYYMM`, as ledgers are keyed.
    fn month(&self) -> String {
        format!("{:04}{:02}", self.first_day.year(), self.first_day.month())
    }

    fn file_name(&self, what: &str) -> String {
        format!("{what}-{}-{}", self.admdvs, self.first_day.format("%Y-%m"))
    }

    fn shows(&self, party: &str) -> bool {
        self.only_party.as_deref().is_none_or(|own| own == party)
    }
}

/// Whether the month can still change: open until its last day is over (a reversal is counted
/// in the month it is made, so a closed month's figures never change).
#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum MonthStatus {
    Open,
    Closed,
}

fn month_status(first_day: NaiveDate, today: NaiveDate) -> MonthStatus {
    let next_month = first_day.checked_add_months(chrono::Months::new(1)).unwrap_or(NaiveDate::MAX);
    if today < next_month { MonthStatus::Open } else { MonthStatus::Closed }
}

/// Figures that are counts: whole numbers on the wire, the rest amounts in yuan (strings).
const COUNTS: [&str; 4] = ["lines", "patients", "settlements", "reversals"];

/// Writes a row's figures: counts as integers, amounts as decimal strings.
fn counts_as_integers<S: serde::Serializer>(figures: &BTreeMap<&'static str, Decimal>, serializer: S) -> Result<S::Ok, S::Error> {
    use rust_decimal::prelude::ToPrimitive;
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(figures.len()))?;
    for (field, amount) in figures {
        match COUNTS.contains(field) {
            true => map.serialize_entry(field, &amount.to_i64().unwrap_or_default())?,
            false => map.serialize_entry(field, amount)?,
        }
    }
    map.end()
}

/// The figures named by `fields`, each 0 when absent.
fn figures_of(fields: &[(&'static str, &str)], figures: &Figures) -> BTreeMap<&'static str, Decimal> {
    fields.iter().map(|(name, _)| (*name, figures.get(*name).copied().unwrap_or_default())).collect()
}

#[derive(Serialize)]
struct PartyPart {
    fixmedins_code: String,
    #[serde(flatten, serialize_with = "counts_as_integers")]
    figures: BTreeMap<&'static str, Decimal>,
}

#[derive(Serialize)]
struct DrugRow {
    med_list_codg: String,
    drug_name: String,
    /// Paid as a separate-payment drug (S5: outside the institutions' budgets).
    separate_payment: bool,
    /// Pharmacies and institutions that settled it.
    parties: usize,
    #[serde(flatten, serialize_with = "counts_as_integers")]
    figures: BTreeMap<&'static str, Decimal>,
    by_party: Vec<PartyPart>,
}

#[derive(Serialize)]
struct Group {
    #[serde(flatten, serialize_with = "counts_as_integers")]
    totals: BTreeMap<&'static str, Decimal>,
    drugs: Vec<DrugRow>,
}

#[derive(Serialize)]
struct DrugReport<'a> {
    admdvs: &'a str,
    month: String,
    status: MonthStatus,
    separate_payment: Group,
    other: Group,
}

/// `GET /api/monitoring/reports/drugs?admdvs=…&month=YYYY-MM[&format=json|csv|xlsx]` (an agency
/// for a region it administers, an admin; a pharmacy or institution its own part): per drug
/// settled in the insured region's month, its lines, packs and amounts net of reversals
/// (reversals count in the month they are made), with each settling party's part; separate-
/// payment drugs apart (S5).
pub async fn drugs(ctx: &Ctx) -> ApiResult<Reply> {
    let asked = Asked::parse(ctx)?;
    let month = asked.month();
    let kv = ctx.kv().await?;
    let drugs = DRUGS.read(&Settlements::new(kv).region_month_drugs(&asked.admdvs, &month)).await?;
    let in_force = CATALOGUE.in_force(kv, asked.first_day).await?;
    let empty = || Group { totals: figures_of(&DRUG_FIELDS, &Figures::new()), drugs: Vec::new() };
    let (mut separate, mut other) = (empty(), empty());
    let mut seen = HashSet::new();
    for (_, drug) in drugs.records().filter(|(_, d)| seen.insert(d.med_list_codg.clone())) {
        let code = &drug.med_list_codg;
        let rows = month_totals(kv, &asked.admdvs, &month, Dimension::Drug, code).await?;
        let mut total = Figures::new();
        let mut by_party = Vec::new();
        // the rows by settling party (those by prescribing institution are the landing's)
        for (party, figures) in rows.iter().filter(|(row, _)| store::ledger::prescriber(row).is_none() && asked.shows(row)) {
            add_figures(&mut total, figures);
            if figures.values().any(|v| !v.is_zero()) {
                by_party.push(PartyPart { fixmedins_code: party.clone(), figures: figures_of(&DRUG_FIELDS, figures) });
            }
        }
        if asked.only_party.is_some() && by_party.is_empty() {
            continue;
        }
        let drug_name = match &in_force {
            Some(in_force) => in_force.coverage(&asked.admdvs, code)?.map(|c| c.name().to_string()).unwrap_or_default(),
            None => String::new(),
        };
        let row = DrugRow { med_list_codg: code.clone(), drug_name, separate_payment: drug.separate_payment, parties: by_party.len(), figures: figures_of(&DRUG_FIELDS, &total), by_party };
        let group = if drug.separate_payment { &mut separate } else { &mut other };
        for (field, amount) in &row.figures {
            *group.totals.entry(field).or_default() += amount;
        }
        group.drugs.push(row);
    }
    let report = DrugReport { admdvs: &asked.admdvs, month: asked.first_day.format("%Y-%m").to_string(), status: month_status(asked.first_day, ctx.today()), separate_payment: separate, other };
    match asked.format {
        Format::Json => Ok(Reply::ok(&report)),
        Format::Csv => drug_table(&report).csv(&asked.file_name("drugs")),
        Format::Xlsx => drug_table(&report).xlsx(&asked.file_name("drugs"), "drugs"),
    }
}

/// One row per drug: code, name, separate payment (1/0), parties, then its figures.
fn drug_table(report: &DrugReport) -> Table {
    let mut columns = vec![("med_list_codg", "医保药品编码"), ("drug_name", "药品名称"), ("separate_payment", "单独支付"), ("parties", "结算机构数")];
    columns.extend(DRUG_FIELDS);
    let rows = [&report.separate_payment, &report.other]
        .into_iter()
        .flat_map(|group| &group.drugs)
        .map(|drug| {
            let mut row = vec![
                Cell::Text(drug.med_list_codg.clone()),
                Cell::Text(drug.drug_name.clone()),
                Cell::Text(if drug.separate_payment { "1" } else { "0" }.into()),
                Cell::Amount(Decimal::from(drug.parties)),
            ];
            row.extend(DRUG_FIELDS.iter().map(|(field, _)| Cell::Amount(drug.figures[field])));
            row
        })
        .collect();
    Table { columns, rows }
}

#[derive(Serialize)]
struct PartyRow {
    fixmedins_code: String,
    fixmedins_name: String,
    /// `pharmacy` or `institution` (empty when the registry no longer has it).
    kind: &'static str,
    #[serde(flatten, serialize_with = "counts_as_integers")]
    figures: BTreeMap<&'static str, Decimal>,
}

#[derive(Serialize)]
struct PartyReport<'a> {
    admdvs: &'a str,
    month: String,
    status: MonthStatus,
    #[serde(flatten, serialize_with = "counts_as_integers")]
    totals: BTreeMap<&'static str, Decimal>,
    parties: Vec<PartyRow>,
}

/// `GET /api/monitoring/reports/parties?admdvs=…&month=YYYY-MM[&format=…]` (as the drug report):
/// per pharmacy and institution that settled for the insured region's month, its settlements
/// and every amount of their breakdowns, net of reversals, the separate-payment drugs' cost
/// and pooled payment apart (S5).
pub async fn parties(ctx: &Ctx) -> ApiResult<Reply> {
    let asked = Asked::parse(ctx)?;
    let month = asked.month();
    let kv = ctx.kv().await?;
    let listed = PARTIES.read(&Settlements::new(kv).region_month_parties(&asked.admdvs, &month)).await?;
    let registry = Registry::new(kv);
    let mut totals = figures_of(&PARTY_FIELDS, &Figures::new());
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for (_, code) in listed.records().filter(|(_, c)| seen.insert((*c).clone()) && asked.shows(c)) {
        let mut figures = Figures::new();
        for row in month_totals(kv, &asked.admdvs, &month, Dimension::Party, code).await?.values() {
            add_figures(&mut figures, row);
        }
        let (fixmedins_name, kind) = registry.party(code).await?.map_or((String::new(), ""), |p| (p.name, p.kind.as_str()));
        let figures = figures_of(&PARTY_FIELDS, &figures);
        for (field, amount) in &figures {
            *totals.entry(field).or_default() += amount;
        }
        rows.push(PartyRow { fixmedins_code: code.clone(), fixmedins_name, kind, figures });
    }
    let report = PartyReport { admdvs: &asked.admdvs, month: asked.first_day.format("%Y-%m").to_string(), status: month_status(asked.first_day, ctx.today()), totals, parties: rows };
    match asked.format {
        Format::Json => Ok(Reply::ok(&report)),
        Format::Csv => party_table(&report).csv(&asked.file_name("parties")),
        Format::Xlsx => party_table(&report).xlsx(&asked.file_name("parties"), "parties"),
    }
}

fn party_table(report: &PartyReport) -> Table {
    let mut columns = vec![("fixmedins_code", "定点医药机构编号"), ("fixmedins_name", "定点医药机构名称"), ("kind", "机构类型")];
    columns.extend(PARTY_FIELDS);
    let rows = report
        .parties
        .iter()
        .map(|party| {
            let mut row = vec![Cell::Text(party.fixmedins_code.clone()), Cell::Text(party.fixmedins_name.clone()), Cell::Text(party.kind.into())];
            row.extend(PARTY_FIELDS.iter().map(|(field, _)| Cell::Amount(party.figures[field])));
            row
        })
        .collect();
    Table { columns, rows }
}

/// An institution's separate-payment figures in a month (S5): what its physicians prescribed,
/// wherever it was dispensed and settled.
const INSTITUTION_FIELDS: [(&str, &str); 3] =
    [("lines", "单独支付药品处方行数"), ("separate_payment_medfee", "单独支付药品费用"), ("separate_payment_hifp_pay", "单独支付药品统筹基金支出")];

#[derive(Serialize)]
struct InstitutionDrug {
    med_list_codg: String,
    #[serde(flatten, serialize_with = "counts_as_integers")]
    figures: BTreeMap<&'static str, Decimal>,
}

#[derive(Serialize)]
struct InstitutionRow {
    fixmedins_code: String,
    fixmedins_name: String,
    #[serde(flatten, serialize_with = "counts_as_integers")]
    figures: BTreeMap<&'static str, Decimal>,
    drugs: Vec<InstitutionDrug>,
}

#[derive(Serialize)]
struct InstitutionReport<'a> {
    admdvs: &'a str,
    month: String,
    status: MonthStatus,
    #[serde(flatten, serialize_with = "counts_as_integers")]
    totals: BTreeMap<&'static str, Decimal>,
    institutions: Vec<InstitutionRow>,
}

/// `GET /api/monitoring/reports/institutions?admdvs=…&month=YYYY-MM[&format=…]` (an agency, an
/// admin; an institution's office its own row): per prescribing institution, the
/// separate-payment drugs its physicians prescribed that were settled for the insured region's
/// month, at any pharmacy or at the institution itself, net of reversals: the spending kept out
/// of the institution's global budget (S5, seed `002_…`). Read from the separate-payment drugs'
/// ledgers (their rows by prescribing institution): 3 reads and 8 per drug, and one per
/// institution for its name.
pub async fn institutions(ctx: &Ctx) -> ApiResult<Reply> {
    let asked = Asked::parse(ctx)?;
    let month = asked.month();
    let kv = ctx.kv().await?;
    let drugs = DRUGS.read(&Settlements::new(kv).region_month_drugs(&asked.admdvs, &month)).await?;
    let mut by_institution: BTreeMap<String, Vec<InstitutionDrug>> = BTreeMap::new();
    let mut seen = HashSet::new();
    for (_, drug) in drugs.records().filter(|(_, d)| d.separate_payment && seen.insert(d.med_list_codg.clone())) {
        for (row, figures) in month_totals(kv, &asked.admdvs, &month, Dimension::Drug, &drug.med_list_codg).await? {
            let Some(institution) = store::ledger::prescriber(&row).filter(|code| asked.shows(code)) else { continue };
            let prescribed = Figures::from([
                ("lines".to_string(), figures.get("lines").copied().unwrap_or_default()),
                ("separate_payment_medfee".to_string(), figures.get("medfee").copied().unwrap_or_default()),
                ("separate_payment_hifp_pay".to_string(), figures.get("hifp_pay").copied().unwrap_or_default()),
            ]);
            let entry = InstitutionDrug { med_list_codg: drug.med_list_codg.clone(), figures: figures_of(&INSTITUTION_FIELDS, &prescribed) };
            by_institution.entry(institution.to_string()).or_default().push(entry);
        }
    }
    let registry = Registry::new(kv);
    let mut totals = figures_of(&INSTITUTION_FIELDS, &Figures::new());
    let mut rows = Vec::with_capacity(by_institution.len());
    for (code, drugs) in by_institution {
        let mut figures = figures_of(&INSTITUTION_FIELDS, &Figures::new());
        for drug in &drugs {
            for (field, amount) in &drug.figures {
                *figures.entry(field).or_default() += amount;
                *totals.entry(field).or_default() += amount;
            }
        }
        let fixmedins_name = registry.party(&code).await?.map(|p| p.name).unwrap_or_default();
        rows.push(InstitutionRow { fixmedins_code: code, fixmedins_name, figures, drugs });
    }
    let report = InstitutionReport { admdvs: &asked.admdvs, month: asked.first_day.format("%Y-%m").to_string(), status: month_status(asked.first_day, ctx.today()), totals, institutions: rows };
    match asked.format {
        Format::Json => Ok(Reply::ok(&report)),
        Format::Csv => institution_table(&report).csv(&asked.file_name("institutions")),
        Format::Xlsx => institution_table(&report).xlsx(&asked.file_name("institutions"), "institutions"),
    }
}

/// One row per institution and drug: the institution, the drug, its figures.
fn institution_table(report: &InstitutionReport) -> Table {
    let mut columns = vec![("fixmedins_code", "定点医疗机构编号"), ("fixmedins_name", "定点医疗机构名称"), ("med_list_codg", "医保药品编码")];
    columns.extend(INSTITUTION_FIELDS);
    let rows = report
        .institutions
        .iter()
        .flat_map(|institution| {
            institution.drugs.iter().map(|drug| {
                let mut row = vec![Cell::Text(institution.fixmedins_code.clone()), Cell::Text(institution.fixmedins_name.clone()), Cell::Text(drug.med_list_codg.clone())];
                row.extend(INSTITUTION_FIELDS.iter().map(|(field, _)| Cell::Amount(drug.figures[field])));
                row
            })
        })
        .collect();
    Table { columns, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_open_until_its_last_day_is_over() {
        let first = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert!(month_status(first, NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()) == MonthStatus::Open);
        assert!(month_status(first, NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()) == MonthStatus::Open);
        assert!(month_status(first, NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()) == MonthStatus::Closed);
    }
}
