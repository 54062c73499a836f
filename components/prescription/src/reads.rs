//! Who sees which prescriptions, and how: a prescription with its derived status (P8), the
//! lists of a person, physician, institution and pharmacy (each from its own index log), the
//! patient's printable voucher (P5), and the trace of every step (P7).

use api::query::Query;
use api::{ApiError, ApiResult, Ctx, ErrorCode, Principal, Reply};
use chrono::NaiveDateTime;
use rules::prescription::{ReviewStatus, RxStatus, RxUseStatus, StepRefusal};
use serde::Serialize;
use std::fmt::Write;
use store::prescription::{Listed, Prescriptions, RxIndex, RxLatest, RxVersion, TraceEntry};
use store::{KeyValue, LogCache};

/// The index logs this instance has read, by log name, validated per request by their version.
static INDEXES: LogCache<Listed> = LogCache::new();

/// A prescription as every permitted reader sees it: the stored record and its status now.
#[derive(Serialize)]
pub struct RxView<'a> {
    #[serde(flatten)]
    record: &'a RxVersion,
    /// `rx_stas_codg`, the validity, derived at the moment of reading (P8: expiry needs no job).
    rx_stas_codg: RxStatus,
    /// `rx_used_stas_codg`: unused, or used (dispensed).
    rx_used_stas_codg: RxUseStatus,
    /// `rx_chk_stas_codg`: the pharmacist's review (P6), once reviewed.
    #[serde(skip_serializing_if = "Option::is_none")]
    rx_chk_stas_codg: Option<ReviewStatus>,
}

impl<'a> RxView<'a> {
    pub fn new(record: &'a RxVersion, now: NaiveDateTime) -> Self {
        RxView {
            record,
            rx_stas_codg: record.stage.status(record.vali_end_time, now),
            rx_used_stas_codg: record.stage.use_status(),
            rx_chk_stas_codg: record.review.as_ref().map(|r| ReviewStatus::of(r.approved)),
        }
    }
}

pub fn concurrent(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::ConcurrentUpdate, format!("{detail}; read the prescription again and retry"))
}

/// A step the prescription's stage refuses (P6, P8).
pub fn refusal(refused: StepRefusal) -> ApiError {
    match refused {
        StepRefusal::Expired(_) => ApiError::new(ErrorCode::RxExpired, refused.to_string()).with_rule("P8"),
        StepRefusal::Illegal(_) => ApiError::new(ErrorCode::RxStateConflict, refused.to_string()).with_rule("P8"),
        StepRefusal::Missing(what) => ApiError::new(ErrorCode::InvalidBody, refused.to_string())
            .with_violations(vec![api::Violation { rule: None, field: format!("/{}", what.replace(' ', "_")), reason: refused.to_string() }]),
    }
}

/// Whether `principal` may see the prescription: its patient, its prescriber, its institution's
/// office, the pharmacy it is bound to or that reviewed it, for an unbound one any pharmacist
/// shown the patient's credential (`psn_no`, P6), agencies of its region, admins. Others get
/// 404, as for a prescription that does not exist.
pub fn may_see(principal: &Principal, record: &RxVersion, credential: Option<&str>) -> bool {
    let rx = &record.prescription;
    match principal {
        Principal::Patient { psn_no } => *psn_no == rx.psn_no,
        Principal::Physician { dr_code, .. } => *dr_code == rx.dr_code,
        Principal::HospitalOffice { fixmedins_code } => *fixmedins_code == rx.fixmedins_code,
        Principal::Pharmacist { fixmedins_code, .. } => match &record.pharmacy {
            Some(bound) => bound == fixmedins_code,
            None => record.review.as_ref().is_some_and(|r| r.fixmedins_code == *fixmedins_code) || credential == Some(rx.psn_no.as_str()),
        },
        Principal::Agency { .. } | Principal::Admin { .. } => rules::registry::may_administer(principal, &record.admdvs),
        Principal::Public => false,
    }
}

/// The latest version of the prescription in the path, if the caller may see it (for an
/// unbound prescription a pharmacist passes the patient's `psn_no` as shown on their credential).
pub async fn visible<K: KeyValue>(ctx: &Ctx, kv: &K) -> ApiResult<RxLatest> {
    let id = ctx.param("hi_rxno")?;
    let latest = if rules::role::is_code(id) { Prescriptions::new(kv).latest(id).await? } else { None };
    let query = Query::parse(ctx.query());
    latest.filter(|l| may_see(&ctx.principal, &l.record, query.text("psn_no"))).ok_or_else(|| ApiError::not_found("prescription"))
}

/// `GET /api/prescriptions/{hi_rxno}`.
pub async fn get(ctx: &Ctx) -> ApiResult<Reply> {
    let latest = visible(ctx, ctx.kv().await?).await?;
    Ok(Reply::ok(&RxView::new(&latest.record, rules::time::business_time(ctx.now))))
}

#[derive(Serialize)]
struct RxList<'a> {
    total: usize,
    page: usize,
    page_size: usize,
    items: Vec<RxView<'a>>,
}

/// `GET /api/prescriptions?page=…` — the patient's own; the physician's own; the office's
/// institution's; the pharmacy's bound ones; an agency's or admin's for `psn_no=…`. Newest
/// first. Reads: the index's version, then two per prescription on the page.
pub async fn list(ctx: &Ctx) -> ApiResult<Reply> {
    let query = Query::parse(ctx.query());
    let paging = query.paging()?;
    let psn_no;
    let index = match &ctx.principal {
        Principal::Patient { psn_no } => RxIndex::Person(psn_no),
        Principal::Physician { dr_code, .. } => RxIndex::Physician(dr_code),
        Principal::HospitalOffice { fixmedins_code } => RxIndex::Institution(fixmedins_code),
        Principal::Pharmacist { fixmedins_code, .. } => RxIndex::Pharmacy(fixmedins_code),
        Principal::Agency { .. } | Principal::Admin { .. } => {
            psn_no = query.text("psn_no").filter(|v| rules::role::is_code(v)).ok_or_else(|| api::query::invalid("psn_no", "required: a code"))?;
            RxIndex::Person(psn_no)
        }
        Principal::Public => return Err(ApiError::new(ErrorCode::RoleForbidden, "prescriptions are listed for their parties")),
    };
    let kv = ctx.kv().await?;
    let reader = INDEXES.read(&Prescriptions::new(kv).index(index)).await?;
    let (total, page) = paging.apply(reader.newest_first_once(|listed| listed.hi_rxno.as_str()).map(|listed| listed.hi_rxno.as_str()));
    let store = Prescriptions::new(kv);
    let mut records = Vec::with_capacity(page.len());
    for id in page {
        if let Some(latest) = store.latest(id).await? {
            records.push(latest.record);
        }
    }
    let now = rules::time::business_time(ctx.now);
    // an agency sees only its regions' records even within a person's list
    let items = records.iter().filter(|r| may_see(&ctx.principal, r, None)).map(|r| RxView::new(r, now)).collect();
    Ok(Reply::ok(&RxList { total, page: paging.page, page_size: paging.page_size, items }))
}

/// `GET /api/prescriptions/{hi_rxno}/voucher` (P5): a plain-text voucher the patient can print.
pub async fn voucher(ctx: &Ctx) -> ApiResult<Reply> {
    let latest = visible(ctx, ctx.kv().await?).await?;
    let record = &latest.record;
    let rx = &record.prescription;
    let now = rules::time::business_time(ctx.now);
    let status = match record.stage.status(record.vali_end_time, now) {
        RxStatus::Valid => "1 有效",
        RxStatus::Expired => "2 已失效",
        RxStatus::Revoked => "3 已撤销",
        RxStatus::Voided => "4 已作废（审核未通过）",
    };
    let used = match record.stage.use_status() {
        RxUseStatus::Unused => "1 未使用",
        RxUseStatus::Used => "2 已使用（已取药）",
    };
    let mut text = String::new();
    // writing to a String cannot fail
    let _ = writeln!(text, "医保电子处方取药凭证");
    let _ = writeln!(text, "医保处方编号 hi_rxno: {}", record.hi_rxno);
    let _ = writeln!(text, "处方追溯码 rx_trace_code: {}", record.rx_trace_code);
    let _ = writeln!(text, "人员编号 psn_no: {}", rx.psn_no);
    let _ = writeln!(text, "开方机构 fixmedins_code: {}  医师 dr_code: {}", rx.fixmedins_code, rx.dr_code);
    let _ = writeln!(text, "诊断 diagnoses: {}", rx.diagnoses.join(", "));
    let _ = writeln!(text, "取药药店 pharmacy: {}", record.pharmacy.as_deref().unwrap_or("患者自选双通道药店"));
    let _ = writeln!(text, "有效期至 vali_end_time: {}", record.vali_end_time.format("%Y-%m-%d %H:%M:%S"));
    let _ = writeln!(text, "处方状态 rx_stas_codg: {status}");
    let _ = writeln!(text, "使用状态 rx_used_stas_codg: {used}");
    let _ = writeln!(text, "----");
    for (line, name) in rx.lines.iter().zip(&record.drug_names) {
        let _ = writeln!(text, "{name} ({}) {} {}", line.med_list_codg, line.drug_dosform, line.drug_spec);
        let _ = writeln!(text, "  数量 {} {}  {} 天  用法 {}", line.drug_cnt, line.drug_dosunt, line.medc_days, line.medc_way_dscr);
    }
    Ok(Reply::bytes("text/plain; charset=utf-8", text.into_bytes()))
}

#[derive(Serialize)]
struct Trace {
    hi_rxno: String,
    steps: Vec<TraceEntry>,
}

/// `GET /api/prescriptions/{hi_rxno}/trace` (P7: the prescribing institution, the pharmacy,
/// the agency): every step, oldest first. One read per step.
pub async fn trace(ctx: &Ctx) -> ApiResult<Reply> {
    let kv = ctx.kv().await?;
    let latest = visible(ctx, kv).await?;
    let versions: Vec<RxVersion> = Prescriptions::new(kv).versions(&latest.record.hi_rxno).history().await?;
    let steps = versions.into_iter().map(|v| v.trace).collect();
    Ok(Reply::ok(&Trace { hi_rxno: latest.record.hi_rxno, steps }))
}
