//! Demo data: with the variable `demo_data` true (the default of `spin up`; production sets it
//! false), the first catalogue request on an empty store seeds a realistic small region for the
//! deployment's `region_code`: a slice of the 2024 national edition in force from 2025-01-01,
//! and the region's dual-channel, separate-payment and outpatient lists (the outpatient list is
//! the real 23-drug table of policy 004 with its annual maximums). The files in `demo/` are
//! generated from the real data by `scripts/demo-data.sh` (a test keeps them equal to what it
//! generates).
//!
//! Seeding writes what an admin and an agency would through the API, so it is idempotent: two
//! instances seeding at once write the same edition id and the same list versions.

use crate::editions::{sha256_hex, timestamp};
use crate::regions::list_digest;
use api::{ApiError, ApiResult, Ctx, ErrorCode};
use chrono::NaiveDate;
use rules::catalogue::{ListEntries, ListedDrug, OutpatientDrug, RegionalListVersion};
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, Ordering};
use store::Catalogue;
use store::catalogue::{CatalogueRecord, EditionSummary};

const SLICE: &[u8] = include_bytes!("../demo/catalogue-2024-slice.csv");
const REGION: &str = include_str!("../demo/region.json");

/// Set once this instance has seen a non-empty store: later requests skip the check.
static CHECKED: AtomicBool = AtomicBool::new(false);

#[derive(Deserialize)]
struct Region {
    effective_from: NaiveDate,
    lists: Lists,
}

#[derive(Deserialize)]
struct Lists {
    dual_channel: Vec<ListedDrug>,
    separate_payment: Vec<ListedDrug>,
    outpatient: Vec<OutpatientDrug>,
}

/// Seeds an empty store when demo data is on. Costs one read on an instance's first request.
pub async fn ensure_seeded(ctx: &Ctx) -> ApiResult<()> {
    if !ctx.config.demo_data || CHECKED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let kv = ctx.kv().await?;
    let catalogue = Catalogue::new(kv);
    if catalogue.log().version().await? == 0 {
        seed(ctx, &catalogue).await?;
    }
    CHECKED.store(true, Ordering::Relaxed);
    Ok(())
}

async fn seed<K: store::KeyValue>(ctx: &Ctx, catalogue: &Catalogue<'_, K>) -> ApiResult<()> {
    // the files are compiled in and tested; failing to read them is a build defect
    let broken = |what: &str| ApiError::new(ErrorCode::ServerMisconfigured, format!("the demo {what} does not read"));
    let entries = import::from_csv(SLICE).map_err(|_| broken("catalogue slice"))?;
    let region: Region = serde_json::from_str(REGION).map_err(|_| broken("region"))?;
    let by = "demo_data".to_string();
    let summary = EditionSummary::new(sha256_hex(SLICE), "2024 (demo slice)".into(), region.effective_from, &entries, timestamp(ctx), by.clone());
    catalogue.save(&summary, &entries).await?;
    let lists = [
        ListEntries::DualChannel(region.lists.dual_channel),
        ListEntries::SeparatePayment(region.lists.separate_payment),
        ListEntries::Outpatient(region.lists.outpatient),
    ];
    for entries in lists {
        let version = RegionalListVersion {
            admdvs: ctx.config.region_code.clone(),
            effective_from: region.effective_from,
            digest: list_digest(&entries),
            entries,
            published_at: timestamp(ctx),
            published_by: by.clone(),
        };
        catalogue.log().append(&CatalogueRecord::RegionalList(version)).await?;
    }
    Ok(())
}
