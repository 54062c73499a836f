//! Demo data: with the variable `demo_data` true (the default of `spin up`; production sets it
//! false), the first catalogue request on an empty store seeds a realistic small region for the
//! deployment's `region_code`:
//! - a slice of the 2024 national edition in force from 2025-01-01, and the region's
//!   dual-channel, separate-payment and outpatient lists (the outpatient list is the real
//!   23-drug table of policy 004 with its annual maximums), generated from the real data by
//!   `scripts/demo-data.sh` (a test keeps the files equal to what it generates);
//! - a registry (`demo/registry.json`, written by hand and fictional: there is no public
//!   registry to take it from): three institutions of each level, dual-channel pharmacies,
//!   responsible and senior physicians, pharmacists and insured persons, one of them
//!   suspended (E1);
//! - the outpatient mechanism's registrations in the same file (S4: 患者乙 registered for
//!   托法替布 at the tier-3 institution by its senior rheumatologists), approved on the day
//!   the demo is seeded, as the institution's office and physician would through the API;
//! - the example settlement policy (`docs/examples/settlement-policy.json`) for the region.
//!
//! Seeding writes what an admin and an agency would through the API, so it is idempotent: two
//! instances seeding at once write the same records, edition id and list versions. A marker
//! written first and one written last let a seed interrupted by a crash be completed.

use crate::editions::sha256_hex;
use crate::regions::list_digest;
use api::{ApiError, ApiResult, Ctx, ErrorCode};
use chrono::NaiveDate;
use rules::filing::{Action, Actor, Application, Filing};
use rules::catalogue::{ListEntries, ListedDrug, OutpatientDrug, RegionalListVersion};
use rules::identity::CertnoKey;
use rules::registry::{Institution, PersonForm, Pharmacist, Pharmacy, Physician};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use rules::settlement::SettlementPolicy;
use store::catalogue::{CatalogueRecord, EditionSummary};
use store::dated::Publication;
use store::filing::{AuditEntry, FilingIndex, FilingVersion, Filings};
use store::settlement::Settlements;
use store::{Catalogue, KeyValue, Registry, keys};

const SLICE: &[u8] = include_bytes!("../demo/catalogue-2024-slice.csv");
const REGION: &str = include_str!("../demo/region.json");
const REGISTRY: &str = include_str!("../demo/registry.json");
/// The example settlement policy the README and the tests use, for the demo region.
const SETTLEMENT_POLICY: &str = include_str!("../../../docs/examples/settlement-policy.json");
const BY: &str = "demo_data";

/// Set once this instance has seen a non-empty store: later requests skip the check.
static CHECKED: AtomicBool = AtomicBool::new(false);

#[derive(Deserialize)]
struct Region {
    effective_from: NaiveDate,
    lists: Lists,
}

#[derive(Deserialize)]
struct People {
    institutions: BTreeMap<String, Institution>,
    pharmacies: BTreeMap<String, Pharmacy>,
    physicians: BTreeMap<String, Physician>,
    pharmacists: BTreeMap<String, Pharmacist>,
    persons: BTreeMap<String, PersonForm>,
    #[serde(default)]
    registrations: Vec<DemoRegistration>,
}

/// A registration as the demo registry gives it: the application and the physician's
/// attestation that the drug's restriction is met (C9).
#[derive(Deserialize)]
struct DemoRegistration {
    application: Application,
    attestation: String,
}

#[derive(Deserialize)]
struct Lists {
    dual_channel: Vec<ListedDrug>,
    separate_payment: Vec<ListedDrug>,
    outpatient: Vec<OutpatientDrug>,
}

/// Seeds an empty store when demo data is on. Costs one or two reads on an instance's first
/// request, none after.
pub async fn ensure_seeded(ctx: &Ctx) -> ApiResult<()> {
    if !ctx.config.demo_data || CHECKED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let kv = ctx.kv().await?;
    if !kv.exists(&keys::demo_seeded()).await? {
        let empty = Catalogue::new(kv).log().version().await? == 0;
        if empty || kv.exists(&keys::demo_seeding()).await? {
            kv.set(&keys::demo_seeding(), ctx.timestamp().as_bytes()).await?;
            seed(ctx, kv).await?;
            kv.set(&keys::demo_seeded(), ctx.timestamp().as_bytes()).await?;
        }
    }
    CHECKED.store(true, Ordering::Relaxed);
    Ok(())
}

/// The files are compiled in and tested; one that does not read is a build defect.
fn broken(what: &str) -> ApiError {
    ApiError::new(ErrorCode::ServerMisconfigured, format!("the demo {what} does not read"))
}

async fn seed<K: KeyValue>(ctx: &Ctx, kv: &K) -> ApiResult<()> {
    let region_code = &ctx.config.region_code;
    let at = ctx.timestamp();
    let people: People = serde_json::from_str(REGISTRY).map_err(|_| broken("registry"))?;
    let registry = Registry::new(kv);
    for (code, institution) in people.institutions {
        // listed in its city too: the landing rate's base and the formulary standings (M1, M4)
        registry.save_institution(&code, None, Institution { admdvs: region_code.clone(), ..institution }, &at, BY).await?;
    }
    for (code, pharmacy) in people.pharmacies {
        registry.save_pharmacy(&code, None, Pharmacy { admdvs: region_code.clone(), ..pharmacy }, &at, BY).await?;
    }
    for (code, physician) in people.physicians {
        registry.save(&code, None, physician, &at, BY).await?;
    }
    for (code, pharmacist) in people.pharmacists {
        registry.save(&code, None, pharmacist, &at, BY).await?;
    }
    let key = CertnoKey::derive(ctx.config.token_secret()?);
    for (psn_no, form) in people.persons {
        let person = PersonForm { insured_admdvs: region_code.clone(), ..form }.register(&key);
        registry.save(&psn_no, None, person, &at, BY).await?;
    }

    let catalogue = Catalogue::new(kv);
    let entries = import::from_csv(SLICE).map_err(|_| broken("catalogue slice"))?;
    let region: Region = serde_json::from_str(REGION).map_err(|_| broken("region"))?;
    let by = BY.to_string();
    let summary = EditionSummary::new(sha256_hex(SLICE), "2024 (demo slice)".into(), region.effective_from, &entries, at.clone(), by.clone());
    catalogue.save(&summary, &entries, catalogue_view::index::pinyin_initials).await?;
    // the separate-payment list is the province's (Hubei publishes its 267 drugs for the whole
    // province, seed 001), which the city inherits (issue 14); the others are the city's own
    let province = rules::registry::province_of(region_code);
    let lists = [
        (region_code, ListEntries::DualChannel(region.lists.dual_channel)),
        (&province, ListEntries::SeparatePayment(region.lists.separate_payment)),
        (region_code, ListEntries::Outpatient(region.lists.outpatient)),
    ];
    for (admdvs, entries) in lists {
        let version = RegionalListVersion {
            admdvs: admdvs.clone(),
            effective_from: region.effective_from,
            digest: list_digest(&entries),
            entries,
            published_at: at.clone(),
            published_by: by.clone(),
        };
        catalogue.log().append(&CatalogueRecord::RegionalList(version)).await?;
    }
    for registration in people.registrations {
        let name = entries.iter().find(|e| e.code() == registration.application.code).map(|e| e.name.clone()).ok_or_else(|| broken("registration's drug"))?;
        register(ctx, kv, registration, name).await?;
    }
    let policy: Publication<SettlementPolicy> = serde_json::from_str(SETTLEMENT_POLICY).map_err(|_| broken("settlement policy"))?;
    Settlements::new(kv).region_policy(region_code).append(&policy.dated(by, at)).await?;
    Ok(())
}

/// Writes an approved registration (S4) as the API would: applied by the institution's
/// office, recommended by its physician, approved by the office, each a version with its
/// audit entry, then listed. A registration of the person and drug already begun (a racing or
/// an earlier, interrupted seed) is left as it is.
async fn register<K: KeyValue>(ctx: &Ctx, kv: &K, registration: DemoRegistration, drug_name: String) -> ApiResult<()> {
    let DemoRegistration { application, attestation } = registration;
    let registrations = Filings::of(kv, application.scheme);
    let (seen, current) = registrations.current_generation(&application.psn_no, &application.code).await?;
    if current.is_some() || seen.head > 0 {
        return Ok(());
    }
    let Ok(generation) = registrations.claim_generation(&application.psn_no, &application.code, seen, ctx.now.timestamp()).await? else { return Ok(()) };
    let id = registrations.id(&application.psn_no, &application.code, generation);
    let today = ctx.today();
    let office = format!("hospital_office:{}", application.fixmedins_code);
    let physician = format!("physician:{}", application.dr_code);
    let applied = Filing::apply(application.scheme);
    let recommended = applied.act(Actor::Physician, &Action::Recommend, today).map_err(|_| broken("registration"))?;
    let approved = recommended.act(Actor::HospitalOffice, &Action::Approve { pharmacy: None }, today).map_err(|_| broken("registration"))?;
    let steps = [("apply", Actor::HospitalOffice, &office, applied), ("recommend", Actor::Physician, &physician, recommended), ("approve", Actor::HospitalOffice, &office, approved)];
    let mut seen = registrations.versions(&id).seen_empty().await?;
    for (action, actor, by, filing) in steps {
        let record = FilingVersion {
            id: id.clone(),
            generation,
            admdvs: ctx.config.region_code.clone(),
            drug_name: drug_name.clone(),
            applied_on: today,
            application: application.clone(),
            filing,
            attestation: (action != "apply").then(|| attestation.clone()),
            audit: AuditEntry { action: action.into(), actor, by: by.clone(), at: ctx.timestamp(), reason: None },
        };
        let Ok(claim) = registrations.claim_version(&id, seen, ctx.now.timestamp()).await? else { return Ok(()) };
        registrations.write(claim, &record).await?;
        seen = store::versions::Seen::just_written(claim.slot);
    }
    registrations.ensure_listed(&[FilingIndex::Institution(&application.fixmedins_code), FilingIndex::Person(&application.psn_no)], &id, 1).await?;
    Ok(())
}

/// A demo identity for `POST /api/auth/demo-tokens`: the principal and a name to show.
pub struct DemoIdentity {
    pub principal: rules::role::Principal,
    pub name: String,
}

/// The demo registry's identity for `role`, the one named by `subject` when given (a `psn_no`,
/// `dr_code`, institution or pharmacy code, `phar_code`), else the first of its kind in the
/// registry (the first person, the first responsible physician, …). `None` when the role or
/// the subject is not in the demo registry. Agencies are the deployment's region; admins
/// the operator `demo-admin`.
pub fn identity(ctx: &Ctx, role: &str, subject: Option<&str>) -> ApiResult<Option<DemoIdentity>> {
    use rules::role::Principal;
    let people: People = serde_json::from_str(REGISTRY).map_err(|_| broken("registry"))?;
    let pick = |codes: Vec<&String>| -> Option<String> {
        match subject {
            Some(wanted) => codes.into_iter().find(|c| c.as_str() == wanted).cloned(),
            None => codes.into_iter().next().cloned(),
        }
    };
    let found = match role {
        "patient" => pick(people.persons.keys().collect()).map(|psn_no| DemoIdentity {
            name: people.persons[&psn_no].name.clone(),
            principal: Principal::Patient { psn_no },
        }),
        "physician" => pick(people.physicians.iter().filter(|(_, p)| p.responsible).map(|(c, _)| c).collect()).map(|dr_code| {
            let physician = &people.physicians[&dr_code];
            DemoIdentity {
                name: physician.name.clone(),
                principal: Principal::Physician { fixmedins_code: physician.fixmedins_code.clone(), dr_code },
            }
        }),
        "hospital_office" => pick(people.institutions.keys().collect()).map(|fixmedins_code| DemoIdentity {
            name: format!("{} 医保办", people.institutions[&fixmedins_code].name),
            principal: Principal::HospitalOffice { fixmedins_code },
        }),
        "pharmacist" => pick(people.pharmacists.keys().collect()).map(|phar_code| {
            let pharmacist = &people.pharmacists[&phar_code];
            let at = people.pharmacies.get(&pharmacist.fixmedins_code).map(|p| p.name.as_str()).unwrap_or("");
            DemoIdentity {
                name: format!("{}({at})", pharmacist.name),
                principal: Principal::Pharmacist { fixmedins_code: pharmacist.fixmedins_code.clone(), phar_code },
            }
        }),
        "agency" => {
            let region = ctx.config.region_code.clone();
            (subject.is_none() || subject == Some(region.as_str()))
                .then(|| DemoIdentity { name: format!("医保经办机构({region})"), principal: Principal::Agency { admdvs: region } })
        }
        "admin" => (subject.is_none() || subject == Some("demo-admin"))
            .then(|| DemoIdentity { name: "演示管理员".into(), principal: Principal::Admin { operator: "demo-admin".into() } }),
        _ => None,
    };
    Ok(found)
}
