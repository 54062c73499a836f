//! The agency's side of smart monitoring (rule M3): each region's thresholds (region data,
//! effective-dated), and the alerts the other components raise as events happen: listed,
//! read with their audit trail, assigned, noted and closed.

use api::query::Query;
use api::{ApiError, ApiResult, Ctx, ErrorCode, Reply, Violation};
use chrono::NaiveDate;
use rules::monitoring::{AlertKind, Thresholds};
use serde::{Deserialize, Serialize};
use store::alerts::{AlertAction, AlertLatest, AlertRecord, AlertStatus, AlertStep, Alerts, ThresholdsVersion, thresholds_in_force};
use store::dated::Publication;
use store::versions::Latest;
use store::{KeyValue, LogCache};

static THRESHOLDS: LogCache<ThresholdsVersion> = LogCache::new();
static ALERT_IDS: LogCache<String> = LogCache::new();

fn out_of_region(admdvs: &str) -> ApiError {
    ApiError::new(ErrorCode::OutOfRegion, format!("the caller does not administer region {admdvs}"))
}

/// `PUT /api/monitoring/regions/{admdvs}/thresholds` (an agency for a region it administers,
/// an admin): publishes the checks' thresholds from `effective_from` on; a correction for the
/// same date is published the same way and wins.
pub async fn publish_thresholds(ctx: &Ctx) -> ApiResult<Reply> {
    let admdvs = ctx.region_param("admdvs")?;
    if !rules::registry::may_administer(&ctx.principal, admdvs) {
        return Err(out_of_region(admdvs));
    }
    let body: Publication<Thresholds> = ctx.json()?;
    let problems = body.policy.problems();
    if !problems.is_empty() {
        let violations = problems.into_iter().map(|p| Violation { rule: Some("M3"), field: p.field.to_string(), reason: p.reason.to_string() }).collect();
        return Err(ApiError::new(ErrorCode::InvalidBody, "the thresholds are out of range").with_violations(violations));
    }
    let version = body.dated(ctx.principal.audit_name(), ctx.timestamp());
    Alerts::new(ctx.kv().await?).region_thresholds(admdvs).append(&version).await?;
    Ok(Reply::created(&version))
}

#[derive(Serialize)]
struct ThresholdsView<'a> {
    admdvs: &'a str,
    date: NaiveDate,
    #[serde(flatten)]
    thresholds: Thresholds,
}

/// `GET /api/monitoring/regions/{admdvs}/thresholds?date=…` (agency, admin): the thresholds in
/// force on the date (today by default), the defaults while the region published none.
pub async fn get_thresholds(ctx: &Ctx) -> ApiResult<Reply> {
    let admdvs = ctx.region_param("admdvs")?;
    if !rules::registry::may_administer(&ctx.principal, admdvs) {
        return Err(out_of_region(admdvs));
    }
    let date = Query::parse(ctx.query()).date("date")?.unwrap_or_else(|| ctx.today());
    let thresholds = thresholds_in_force(&THRESHOLDS, ctx.kv().await?, admdvs, date).await?;
    Ok(Reply::ok(&ThresholdsView { admdvs, date, thresholds }))
}

#[derive(Serialize)]
struct AlertList<'a> {
    admdvs: &'a str,
    total: usize,
    items: Vec<AlertRecord>,
}

/// `GET /api/monitoring/alerts?admdvs=…[&status=…][&kind=…][&page=…]` (an agency for a region
/// it administers, an admin): the region's alerts, newest first. Reads: the region's list, then
/// two per alert (filters need every alert's state).
pub async fn list(ctx: &Ctx) -> ApiResult<Reply> {
    let query = Query::parse(ctx.query());
    let admdvs = query.administered_region(&ctx.principal)?;
    let status = query.choice("status", &[("open", AlertStatus::Open), ("assigned", AlertStatus::Assigned), ("closed", AlertStatus::Closed)])?;
    let kinds: Vec<(&str, AlertKind)> = AlertKind::ALL.iter().map(|k| (k.as_str(), *k)).collect();
    let kind = query.choice("kind", &kinds)?;
    let paging = query.paging()?;
    let kv = ctx.kv().await?;
    let store = Alerts::new(kv);
    let ids = ALERT_IDS.read(&store.region_alerts(admdvs)).await?;
    let mut alerts = Vec::new();
    for id in ids.newest_first_once(String::as_str) {
        // listed before written: an alert whose raising died between the two is not shown yet
        if let Some(latest) = store.latest(id).await? {
            alerts.push(latest.record);
        }
    }
    let matching = alerts.into_iter().filter(|a| status.is_none_or(|s| a.status == s) && kind.is_none_or(|k| a.kind == k));
    let (total, items) = paging.apply(matching);
    Ok(Reply::ok(&AlertList { admdvs, total, items }))
}

/// The alert `{alert_id}` if the caller administers its region; anyone else learns nothing.
async fn visible<K: KeyValue>(ctx: &Ctx, kv: &K) -> ApiResult<AlertLatest> {
    let alert_id = ctx.param("alert_id")?;
    let not_found = || ApiError::not_found("alert");
    if !rules::role::is_code(alert_id) {
        return Err(not_found());
    }
    let latest = Alerts::new(kv).latest(alert_id).await?.ok_or_else(not_found)?;
    if rules::registry::may_administer(&ctx.principal, &latest.record.admdvs) { Ok(latest) } else { Err(not_found()) }
}

#[derive(Serialize)]
struct AlertView {
    #[serde(flatten)]
    alert: AlertRecord,
    /// Every step, oldest first: who raised, assigned, noted and closed it, when.
    history: Vec<AlertStep>,
}

/// `GET /api/monitoring/alerts/{alert_id}` (agency of its region, admin): the alert as it
/// stands, with its audit trail.
pub async fn get(ctx: &Ctx) -> ApiResult<Reply> {
    let kv = ctx.kv().await?;
    let latest = visible(ctx, kv).await?;
    let history = Alerts::new(kv).history(&latest.record.alert_id).await?.into_iter().map(|v| v.step).collect();
    Ok(Reply::ok(&AlertView { alert: latest.record, history }))
}

/// What an officer does with an alert.
#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
enum Action {
    /// Hands it to an officer (by their name or staff number).
    Assign { assignee: String, #[serde(default)] note: Option<String> },
    /// Adds a note (an inquiry made, a document received).
    Note { note: String },
    /// Closes it with the finding: what was found and done.
    Close { note: String },
}

fn text_ok(text: &str) -> bool {
    let text = text.trim();
    !text.is_empty() && text.chars().count() <= 1000
}

/// `POST /api/monitoring/alerts/{alert_id}/actions` (agency of its region, admin): assigns,
/// notes or closes the alert, each a new version of it (its audit trail). A closed alert takes
/// notes only.
pub async fn act(ctx: &Ctx) -> ApiResult<Reply> {
    let action: Action = ctx.json()?;
    let invalid = |field: &str| ApiError::new(ErrorCode::InvalidBody, "the action lacks its words").with_violations(vec![Violation { rule: Some("M3"), field: field.to_string(), reason: "1 to 1000 characters".into() }]);
    let kv = ctx.kv().await?;
    let Latest { seen, record } = visible(ctx, kv).await?;
    let step = |action: AlertAction, note: Option<String>| AlertStep { action, by: ctx.principal.audit_name(), at: ctx.timestamp(), note: note.map(|n| n.trim().to_string()) };
    let closed = record.status == AlertStatus::Closed;
    let refuse = || ApiError::new(ErrorCode::AlertStateConflict, "the alert is closed; it takes notes only").with_rule("M3");
    let next = match action {
        Action::Assign { assignee, note } => {
            if !text_ok(&assignee) {
                return Err(invalid("/assignee"));
            }
            if note.as_deref().is_some_and(|n| !text_ok(n)) {
                return Err(invalid("/note"));
            }
            if closed {
                return Err(refuse());
            }
            AlertRecord { status: AlertStatus::Assigned, assignee: Some(assignee.trim().to_string()), step: step(AlertAction::Assigned, note), ..record }
        }
        Action::Note { note } => {
            if !text_ok(&note) {
                return Err(invalid("/note"));
            }
            AlertRecord { step: step(AlertAction::Noted, Some(note)), ..record }
        }
        Action::Close { note } => {
            if !text_ok(&note) {
                return Err(invalid("/note"));
            }
            if closed {
                return Err(refuse());
            }
            AlertRecord { status: AlertStatus::Closed, step: step(AlertAction::Closed, Some(note)), ..record }
        }
    };
    let store = Alerts::new(kv);
    let claim = store.claim(&next.alert_id, seen, ctx.now.timestamp()).await?.map_err(|_| ApiError::new(ErrorCode::ConcurrentUpdate, "the alert changed at the same time; read it again"))?;
    store.write(claim, &next).await?;
    Ok(Reply::ok(&next))
}
