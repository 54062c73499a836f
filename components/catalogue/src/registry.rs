//! `/api/registry/...`: designated institutions and pharmacies, physicians, pharmacists and
//! insured persons (rules I1–I4), and the public list of a city's pharmacies.
//!
//! A PUT (agency, admin) is parsed, checked whole by `rules::registry` (every problem in one
//! 422), then held to the caller's region: an agency writes only records of regions it
//! administers, both where the record is now and where the PUT would put it. It answers 201
//! when it created the record and 200 otherwise; the same body twice gives the same record.

use api::query::{Query, invalid};
use api::{ApiError, ApiResult, Ctx, ErrorCode, Principal, Reply, Role, Violation};
use rules::identity::CertnoKey;
use rules::registry::{self, Affiliated, Basis, FieldProblem, Institution, Person, PersonForm, Pharmacist, Pharmacy, Physician};
use rules::registry::{PublicPharmacy, Regional};
use rules::role::is_code;
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::collections::HashSet;
use store::registry::{Change, CityCache, CityPharmacies, Entity, Record};
use store::Registry;

/// Lives as long as the instance: see [`store::registry::CityCache`].
static CITIES: CityCache<CityPharmacies> = CityCache::new();

// ---------------------------------------------------------------------------------------------
// Writes

/// `PUT /api/registry/institutions/{fixmedins_code}` (agency, admin).
pub async fn put_institution(ctx: &Ctx) -> ApiResult<Reply> {
    let code = code_to_write(ctx, "fixmedins_code")?;
    let institution: Institution = ctx.json()?;
    refuse(institution.check())?;
    let registry = Registry::new(ctx.kv().await?);
    let existing = registry.get::<Institution>(code).await?;
    administer(&ctx.principal, existing.as_ref().map(|r| r.entry.admdvs()), institution.admdvs())?;
    // the record, then its city's list (the landing rate's base): see `store::registry`
    let (record, change) = registry.save_institution(code, existing, institution, &ctx.timestamp(), &ctx.principal.audit_name()).await?;
    Ok(saved(change, &institution_view(code, &record, ctx.principal.role())))
}

/// `PUT /api/registry/pharmacies/{fixmedins_code}` (agency, admin). Rule I2: a dual-channel
/// pharmacy must qualify, and every linked institution must be registered (one `exists` each,
/// at most [`registry::MAX_LINKED_INSTITUTIONS`]).
pub async fn put_pharmacy(ctx: &Ctx) -> ApiResult<Reply> {
    let code = code_to_write(ctx, "fixmedins_code")?;
    let pharmacy: Pharmacy = ctx.json()?;
    let registry = Registry::new(ctx.kv().await?);
    let mut registered = HashSet::new();
    for linked in pharmacy.links_to_verify() {
        if registry.exists::<Institution>(linked).await? {
            registered.insert(linked.to_string());
        }
    }
    refuse(pharmacy.check(|linked| registered.contains(linked)))?;
    let existing = registry.get::<Pharmacy>(code).await?;
    administer(&ctx.principal, existing.as_ref().map(|r| r.entry.admdvs()), pharmacy.admdvs())?;
    // The record is written before the city log (see `store::registry`): a crash in between
    // leaves the public list missing this change, and repeating the PUT appends it.
    let (record, change) = registry.save_pharmacy(code, existing, pharmacy, &ctx.timestamp(), &ctx.principal.audit_name()).await?;
    Ok(saved(change, &Shown::new(Code("fixmedins_code", code), &record.entry, &record, ctx.principal.role())))
}

/// `PUT /api/registry/physicians/{dr_code}` (agency, admin). Rule I3: at a registered
/// institution.
pub async fn put_physician(ctx: &Ctx) -> ApiResult<Reply> {
    put_affiliated::<Physician, Institution>(ctx, "dr_code").await
}

/// `PUT /api/registry/pharmacists/{phar_code}` (agency, admin): at a registered pharmacy.
pub async fn put_pharmacist(ctx: &Ctx) -> ApiResult<Reply> {
    put_affiliated::<Pharmacist, Pharmacy>(ctx, "phar_code").await
}

/// `PUT /api/registry/persons/{psn_no}` (agency, admin). The ID number is checked, then kept
/// only masked and as a keyed digest; it is not written anywhere, logged or returned.
pub async fn put_person(ctx: &Ctx) -> ApiResult<Reply> {
    let psn_no = code_to_write(ctx, "psn_no")?;
    let form: PersonForm = ctx.json()?;
    refuse(form.check())?;
    // The digest key is derived from `token_secret` under a fixed label (`CertnoKey::derive`):
    // the deployment already guards that secret, so no second one has to be provisioned, and
    // the label keeps the two uses apart (a digest key reveals nothing about the token key,
    // nor the reverse). The price: rotating `token_secret` changes every digest, so persons
    // must be PUT again after a rotation, or a dedicated secret introduced before one.
    let person = form.register(&CertnoKey::derive(ctx.config.token_secret()?));
    let (record, change) = save_regional(ctx, psn_no, person).await?;
    Ok(saved(change, &Shown::new(Code("psn_no", psn_no), &record.entry, &record, ctx.principal.role())))
}

/// Saves a record that carries its own region (an institution, a person).
async fn save_regional<T: Entity + Regional>(ctx: &Ctx, code: &str, entry: T) -> ApiResult<(Record<T>, Change)> {
    let registry = Registry::new(ctx.kv().await?);
    let existing = registry.get::<T>(code).await?;
    administer(&ctx.principal, existing.as_ref().map(|r| r.entry.admdvs()), entry.admdvs())?;
    Ok(registry.save(code, existing, entry, &ctx.timestamp(), &ctx.principal.audit_name()).await?)
}

/// PUT of a record that belongs to a registered home `H` and takes its region (a physician at
/// an institution, a pharmacist at a pharmacy). `param` names both the path parameter and the
/// code's field in the answer. Reads: the home, the record, and its old home if it changes.
async fn put_affiliated<T, H>(ctx: &Ctx, param: &'static str) -> ApiResult<Reply>
where
    T: Entity + Affiliated,
    H: Entity + Regional,
{
    let code = code_to_write(ctx, param)?;
    let entry: T = ctx.json()?;
    let registry = Registry::new(ctx.kv().await?);
    let home = if is_code(entry.home()) { registry.get::<H>(entry.home()).await? } else { None };
    let problems = entry.check(home.is_some());
    // no problems means the home was found
    let home = home.filter(|_| problems.is_empty()).ok_or_else(|| refused(problems))?;
    let existing = registry.get::<T>(code).await?;
    let old_region = match &existing {
        Some(old) if old.entry.home() != entry.home() => {
            registry.get::<H>(old.entry.home()).await?.map(|old_home| old_home.entry.admdvs().to_string())
        }
        _ => None,
    };
    administer(&ctx.principal, old_region.as_deref(), home.entry.admdvs())?;
    let (record, change) = registry.save(code, existing, entry, &ctx.timestamp(), &ctx.principal.audit_name()).await?;
    Ok(saved(change, &Shown::new(Code(param, code), &record.entry, &record, ctx.principal.role())))
}

/// Refuses the write unless the caller administers both the record's current region (if it
/// exists) and the one it would have (403 `OUT_OF_REGION`).
fn administer(principal: &Principal, current: Option<&str>, new: &str) -> ApiResult<()> {
    match current.into_iter().chain([new]).find(|admdvs| !registry::may_administer(principal, admdvs)) {
        None => Ok(()),
        Some(admdvs) => {
            let who = match principal {
                Principal::Agency { admdvs } => format!("agency {admdvs}"),
                other => other.role().as_str().to_string(),
            };
            Err(ApiError::new(ErrorCode::OutOfRegion, format!("{who} does not administer region {admdvs}")))
        }
    }
}

/// The path's code for a PUT: one that could never be a code is a bad request (400).
fn code_to_write<'a>(ctx: &'a Ctx, param: &str) -> ApiResult<&'a str> {
    let code = ctx.param(param)?;
    if is_code(code) {
        return Ok(code);
    }
    let reason = "a code is 1 to 64 letters, digits, '-' or '_'";
    Err(ApiError::new(ErrorCode::InvalidPath, format!("path parameter {param}: {reason}")).with_violations(vec![Violation {
        rule: None,
        field: param.to_string(),
        reason: reason.to_string(),
    }]))
}

fn refused(problems: Vec<FieldProblem>) -> ApiError {
    let violations: Vec<Violation> = problems.into_iter().map(Violation::from).collect();
    ApiError::new(ErrorCode::InvalidBody, format!("{} problem(s) in the record; nothing was saved", violations.len()))
        .with_violations(violations)
}

fn refuse(problems: Vec<FieldProblem>) -> ApiResult<()> {
    if problems.is_empty() { Ok(()) } else { Err(refused(problems)) }
}

fn saved(change: Change, view: &impl Serialize) -> Reply {
    match change {
        Change::Created => Reply::created(view),
        Change::Replaced | Change::Unchanged => Reply::ok(view),
    }
}



// ---------------------------------------------------------------------------------------------
// Reads

/// `GET /api/registry/institutions/{fixmedins_code}` (everyone).
pub async fn get_institution(ctx: &Ctx) -> ApiResult<Reply> {
    let code = code_to_read(ctx, "fixmedins_code")?;
    let record = find::<Institution>(ctx, code, "designated institution").await?;
    Ok(Reply::ok(&institution_view(code, &record, ctx.principal.role())))
}

/// `GET /api/registry/pharmacies/{fixmedins_code}` (everyone): agency and admin see the whole
/// record; everyone else what the public list shows.
pub async fn get_pharmacy(ctx: &Ctx) -> ApiResult<Reply> {
    let code = code_to_read(ctx, "fixmedins_code")?;
    let record = find::<Pharmacy>(ctx, code, "designated pharmacy").await?;
    let role = ctx.principal.role();
    Ok(match staff(role) {
        true => Reply::ok(&Shown::new(Code("fixmedins_code", code), &record.entry, &record, role)),
        false => Reply::ok(&record.entry.public_view(code)),
    })
}

/// `GET /api/registry/physicians/{dr_code}` (every authenticated role).
pub async fn get_physician(ctx: &Ctx) -> ApiResult<Reply> {
    get_shown::<Physician>(ctx, "dr_code", "physician").await
}

/// `GET /api/registry/pharmacists/{phar_code}` (every authenticated role).
pub async fn get_pharmacist(ctx: &Ctx) -> ApiResult<Reply> {
    get_shown::<Pharmacist>(ctx, "phar_code", "pharmacist").await
}

/// `GET /api/registry/persons/{psn_no}` (patient, agency, admin). A patient reads only their
/// own record: another `psn_no` gets the same 404 as an unknown one, without a read, so a
/// patient cannot learn which numbers are registered. An agency reads persons insured in the
/// regions it administers (personal data, held to the same scope as writes).
pub async fn get_person(ctx: &Ctx) -> ApiResult<Reply> {
    const WHAT: &str = "insured person";
    let psn_no = code_to_read(ctx, "psn_no")?;
    if let Principal::Patient { psn_no: own } = &ctx.principal
        && own != psn_no
    {
        return Err(ApiError::not_found(WHAT));
    }
    let record = find::<Person>(ctx, psn_no, WHAT).await?;
    if !matches!(ctx.principal, Principal::Patient { .. }) {
        administer(&ctx.principal, None, record.entry.admdvs())?;
    }
    Ok(Reply::ok(&Shown::new(Code("psn_no", psn_no), &record.entry, &record, ctx.principal.role())))
}

async fn get_shown<T: Entity>(ctx: &Ctx, param: &'static str, what: &str) -> ApiResult<Reply> {
    let code = code_to_read(ctx, param)?;
    let record = find::<T>(ctx, code, what).await?;
    Ok(Reply::ok(&Shown::new(Code(param, code), &record.entry, &record, ctx.principal.role())))
}

/// The path's code for a GET: one that could never be a code names nothing (404).
fn code_to_read<'a>(ctx: &'a Ctx, param: &str) -> ApiResult<&'a str> {
    ctx.param(param).and_then(|code| if is_code(code) { Ok(code) } else { Err(ApiError::not_found(param)) })
}

async fn find<T: Entity>(ctx: &Ctx, code: &str, what: &str) -> ApiResult<Record<T>> {
    Registry::new(ctx.kv().await?).get::<T>(code).await?.ok_or_else(|| ApiError::not_found(what))
}

/// `GET /api/registry/pharmacies?admdvs=420100&dual_channel=true&page=1&page_size=20`
/// (everyone): a city's pharmacies in `fixmedins_code` order, from the city's log through the
/// instance's cache; a warm instance answers after one read.
pub async fn list_pharmacies(ctx: &Ctx) -> ApiResult<Reply> {
    let query = Query::parse(ctx.query());
    let admdvs = query.text("admdvs").ok_or_else(|| invalid("admdvs", "required: the city's region code, e.g. 420100"))?;
    if !registry::is_admdvs(admdvs) {
        return Err(invalid("admdvs", "a region code (GB/T 2260) is six digits, e.g. 420100"));
    }
    let dual_channel = query.choice("dual_channel", &[("true", true), ("false", false)])?;
    let paging = query.paging()?;
    let city = CITIES.city(ctx.kv().await?, admdvs).await?;
    // the city's list holds its districts' pharmacies: a district asks for its own (issue 14)
    let wanted = |p: &&PublicPharmacy| registry::is_within(&p.admdvs, admdvs) && dual_channel.is_none_or(|wanted| p.dual_channel == wanted);
    let (total, items) = paging.apply(city.pharmacies().filter(wanted));
    Ok(Reply::ok(&PharmacyPage { admdvs, dual_channel, total, page: paging.page, page_size: paging.page_size, items }))
}

#[derive(serde::Serialize)]
struct PharmacyPage<'a> {
    admdvs: &'a str,
    dual_channel: Option<bool>,
    total: usize,
    page: usize,
    page_size: usize,
    items: Vec<&'a PublicPharmacy>,
}


// ---------------------------------------------------------------------------------------------
// Views

/// Audit data (who changed a record) is for agency and admin.
fn staff(role: Role) -> bool {
    matches!(role, Role::Agency | Role::Admin)
}

/// The code a record is registered under, as one field named like its path parameter and the
/// national interface field (`{"dr_code": "D1"}`).
struct Code<'a>(&'static str, &'a str);

impl Serialize for Code<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.0, self.1)?;
        map.end()
    }
}

/// A record as a caller sees it: its code, its entry and when it last changed; who changed it
/// only for agency and admin.
#[derive(serde::Serialize)]
struct Shown<'a, T> {
    #[serde(flatten)]
    code: Code<'a>,
    #[serde(flatten)]
    entry: T,
    updated_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_by: Option<&'a str>,
}

impl<'a, T> Shown<'a, T> {
    fn new<E>(code: Code<'a>, entry: T, record: &'a Record<E>, role: Role) -> Self {
        Shown { code, entry, updated_at: &record.updated_at, updated_by: staff(role).then_some(record.updated_by.as_str()) }
    }
}

/// An institution with its separate-payment eligibility (rule I1), derived on every read so it
/// always follows the rule as the code now states it.
#[derive(serde::Serialize)]
struct Eligibility<'a> {
    #[serde(flatten)]
    institution: &'a Institution,
    separate_payment_eligible: bool,
    separate_payment_reasons: Vec<Basis>,
}

fn institution_view<'a>(code: &'a str, record: &'a Record<Institution>, role: Role) -> Shown<'a, Eligibility<'a>> {
    let separate_payment = record.entry.separate_payment();
    let eligibility = Eligibility {
        institution: &record.entry,
        separate_payment_eligible: separate_payment.eligible,
        separate_payment_reasons: separate_payment.basis,
    };
    Shown::new(Code("fixmedins_code", code), eligibility, record, role)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::registry::Level;

    fn record() -> Record<Institution> {
        let institution = Institution {
            name: "协和医院".into(),
            admdvs: "420100".into(),
            level: Level::Second,
            capabilities: Default::default(),
            key_specialties: vec!["肿瘤科".into()],
            cross_region_settlement: false,
            address: None,
        };
        Record { entry: institution, updated_at: "2025-03-01T09:00:00+08:00".into(), updated_by: "ops-1".into() }
    }

    #[test]
    fn an_institution_is_shown_with_its_code_eligibility_and_audit_for_staff_only() {
        let record = record();
        let admin = serde_json::to_value(institution_view("H1", &record, Role::Admin)).expect("json");
        assert_eq!(admin["fixmedins_code"], "H1");
        assert_eq!(admin["level"], 2);
        assert_eq!(admin["separate_payment_eligible"], true);
        assert_eq!(admin["separate_payment_reasons"][0], "tier-2 (二级) institution with key specialty 肿瘤科");
        assert_eq!(admin["updated_by"], "ops-1");
        for role in [Role::Public, Role::Patient, Role::Physician, Role::HospitalOffice, Role::Pharmacist] {
            let shown = serde_json::to_value(institution_view("H1", &record, role)).expect("json");
            assert!(shown.get("updated_by").is_none(), "{role:?}: {shown}");
            assert_eq!(shown["updated_at"], "2025-03-01T09:00:00+08:00");
        }
    }

    #[test]
    fn an_agency_is_refused_outside_its_region_whether_the_record_is_there_or_would_go_there() {
        let wuhan = Principal::Agency { admdvs: "420100".into() };
        assert_eq!(administer(&wuhan, Some("420100"), "420100"), Ok(()));
        assert_eq!(administer(&wuhan, None, "430100").unwrap_err().code, ErrorCode::OutOfRegion);
        // taking over another region's record into its own is refused as well
        let problem = administer(&wuhan, Some("430100"), "420100").unwrap_err();
        assert_eq!(problem.detail, "agency 420100 does not administer region 430100");
        assert_eq!(administer(&Principal::Admin { operator: "ops-1".into() }, Some("430100"), "650100"), Ok(()));
    }
}
