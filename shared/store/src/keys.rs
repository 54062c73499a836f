//! The key layout: every key the app reads or writes is built here, so the layout can be read
//! in one place (and in `ARCHITECTURE.md`, which mirrors this module).
//!
//! Conventions:
//! - Segments are separated by `:`; the first segment names the owning capability.
//! - Variable segments are codes validated by `rules::role::is_code` (or hashes), so they never
//!   contain `:`; ID numbers never appear in keys.
//! - Nothing on a request path lists keys: every lookup is by a key computed from the request.

/// Marks a revoked token, by its `jti`. Written by the catalogue component's
/// `DELETE /api/auth/tokens/{jti}`, read by every component on every authenticated request.
pub fn revoked_token(jti: &str) -> String {
    format!("auth:revoked:{jti}")
}

/// A scratch key the store health check writes, reads back and deletes, per component.
pub fn health_probe(component: &str) -> String {
    format!("health:probe:{component}")
}

/// The counter the store health check increments, per component (proves atomics work).
pub fn health_counter(component: &str) -> String {
    format!("health:count:{component}")
}

/// One chunk (number `index`, from 0) of a catalogue edition's entries: a few hundred
/// `CatalogueEntry`s in edition order, each in MessagePack, back to back, so an instance loads
/// an edition in a handful of reads. `edition` is the edition id (a sha256 hex digest). Written by the catalogue
/// component's `POST /api/catalogue/editions`, first; never rewritten (an id names fixed
/// content).
pub fn catalogue_chunk(edition: &str, index: u32) -> String {
    format!("catalogue:edition:{edition}:chunk:{index}")
}

/// A catalogue edition's directory (`store::catalogue::EditionDirectory`): per entry, its code,
/// search fields and where its bytes lie in the chunks. Written after the chunks, before the
/// manifest; never rewritten.
pub fn catalogue_directory(edition: &str) -> String {
    format!("catalogue:edition:{edition}:directory")
}

/// The manifest of a catalogue edition (its summary: name, effective date, counts, number of
/// chunks). Written after every chunk and the directory are stored, so a manifest never names a
/// missing one.
pub fn catalogue_manifest(edition: &str) -> String {
    format!("catalogue:edition:{edition}")
}

/// The catalogue's log (see [`crate::log`]): every imported or withdrawn edition, regional
/// list version and confidential standards record, in the order they were written. Small
/// records only; an edition's entries are in its chunks.
pub const CATALOGUE_LOG: &str = "catalogue";

/// The catalogue log's version: what every instance's catalogue cache is validated by, so
/// what a request that needs the catalogue reads ahead.
pub fn catalogue_version() -> String {
    log_version(CATALOGUE_LOG)
}

/// The counter from which a log's appends take their sequence numbers (`increment` by 1).
pub fn log_head(log: &str) -> String {
    format!("{log}:log:head")
}

/// The record in slot `seq` of a log, written once by the append that took the slot.
pub fn log_record(log: &str, seq: i64) -> String {
    format!("{log}:log:{seq}")
}

/// Bumped after each completed append to a log; readers validate their in-instance copy of
/// the log by reading it (`increment(key, 0)`): one small read per request.
pub fn log_version(log: &str) -> String {
    format!("{log}:version")
}

/// The claim on a numbered slot (a version of a record, a generation of a person's filings for
/// a drug; see [`crate::versions`]): `increment` +1, and the caller that gets 1 owns the slot.
/// Losers take nothing else, so no number is ever skipped by a lost race.
pub fn slot_claims(slot: &str) -> String {
    format!("{slot}:claims")
}

/// The claims of attempt `attempt` ≥ 2 on a slot whose earlier attempt stalled: taken over
/// after the lease (see [`crate::versions`], "Stalled slots").
pub fn slot_takeover_claims(slot: &str, attempt: u32) -> String {
    format!("{slot}:claims:{attempt}")
}

/// When attempt `attempt` on a slot was first seen claimed and unwritten (JSON, Unix seconds):
/// written by the first change that lost to it while it was unwritten.
pub fn slot_stalled_since(slot: &str, attempt: u32) -> String {
    format!("{slot}:stalled:{attempt}")
}

/// The generation counter of a person's filings for a drug (`increment`): the filing of
/// generation `g` has id `store::filing::filing_id(scheme, psn_no, code, g)`. Moved to `g` by
/// the application that claimed generation `g` (`POST /api/filings`, claim on
/// [`filing_generation_slot`]); read by every filing lookup for the person and drug.
/// `scheme` is `drug` for eligibility filings, `registration` for the outpatient mechanism's
/// registrations (S4): a person's filing and registration for one drug are apart.
pub fn filing_generation(psn_no: &str, scheme: &str, code: &str) -> String {
    format!("filing:person:{psn_no}:{scheme}:{code}:generation")
}

/// Generation `g` of a person's filings (or registrations) for a drug, as a slot to claim
/// ([`slot_claims`]): the id of its filing, written right after the claim.
pub fn filing_generation_slot(psn_no: &str, scheme: &str, code: &str, generation: i64) -> String {
    format!("filing:person:{psn_no}:{scheme}:{code}:generation:{generation}")
}

/// The version counter of a filing (`increment`): the newest version number claimed (each
/// action claims the next version on [`slot_claims`] of [`filing_version`], then moves this).
pub fn filing_version_counter(id: &str) -> String {
    format!("filing:{id}:version")
}

/// Version `version` of a filing: the whole filing as of that version with its audit entry,
/// written once by the action that took the number.
pub fn filing_version(id: &str, version: i64) -> String {
    format!("filing:{id}:v:{version}")
}

/// The version counter of a filing's draws (`store::draws`): what was dispensed under a
/// filing whose treatment plan bounds the quantity (M3); claims on [`slot_claims`] of
/// [`filing_draws_version`] as for the filing's own versions.
pub fn filing_draws_version_counter(id: &str) -> String {
    format!("filing:{id}:draws:version")
}

/// Version `n` of a filing's draws (`store::draws::FilingDraws`), written once by the
/// dispensing that claimed it.
pub fn filing_draws_version(id: &str, n: i64) -> String {
    format!("filing:{id}:draws:v:{n}")
}

/// Marks that version `version` of filing `id` put it in the index `filing_index(kind, code)`
/// (the application, an approval or pharmacy change), so a retry appends only what is missing.
pub fn filing_listed(id: &str, kind: &str, code: &str, version: i64) -> String {
    format!("filing:{id}:listed:{kind}:{code}:{version}")
}

/// The log (see [`crate::log`]) of the ids of the filings at an institution, bound to a
/// pharmacy, or of a person (`kind` is `institution`, `pharmacy` or `person`).
pub fn filing_index(kind: &str, code: &str) -> String {
    format!("filing:{kind}:{code}:filings")
}

/// A pre-checked prescription (`store::prescription::PreChecked`) by its trace code
/// (`rx_trace_code`, a digest of the prescription and the day): written by
/// `POST /api/prescriptions/pre-check`, read by the upload that names the trace code.
pub fn rx_prechecked(rx_trace_code: &str) -> String {
    format!("rx:precheck:{rx_trace_code}")
}

/// The version counter of an uploaded prescription (`increment`): the upload takes number 1,
/// each later step (review, dispensing, revocation) the next; see [`crate::versions`].
/// `hi_rxno` is derived from the institution and its own prescription number.
pub fn rx_version_counter(hi_rxno: &str) -> String {
    format!("rx:{hi_rxno}:version")
}

/// Version `version` of a prescription: the whole prescription and its stage as of that step,
/// with the trace entry (who, when, what) that made it; written once.
pub fn rx_version(hi_rxno: &str, version: i64) -> String {
    format!("rx:{hi_rxno}:v:{version}")
}

/// The log (see [`crate::log`]) of the prescriptions of a person, a prescribing institution, a
/// prescribing physician or the pharmacy they are bound to (`kind` is `person`,
/// `institution`, `physician` or `pharmacy`).
pub fn rx_index(kind: &str, code: &str) -> String {
    format!("rx:{kind}:{code}:prescriptions")
}

/// Marks that prescription `hi_rxno` was appended to the index log `rx_index(kind, code)`, so
/// that a retried step appends it only if missing without reading the whole log.
pub fn rx_listed(hi_rxno: &str, kind: &str, code: &str) -> String {
    format!("rx:{hi_rxno}:listed:{kind}:{code}")
}

/// Marks that the dispensing of `med_list_codg` under prescription `hi_rxno` was appended to
/// the pharmacy's medication record for the person (E6).
pub fn rx_medication_recorded(hi_rxno: &str, med_list_codg: &str) -> String {
    format!("rx:{hi_rxno}:medication:{med_list_codg}")
}

/// Marks that return `return_no` of a prescription's drug is in the medication record.
pub fn rx_medication_return_recorded(hi_rxno: &str, return_no: &str, med_list_codg: &str) -> String {
    format!("rx:{hi_rxno}:return:{return_no}:medication:{med_list_codg}")
}

/// The head counter of a traceability code's owners (slots, see [`crate::versions`]): the
/// dispensing that claims owner slot `n` ([`slot_claims`] of [`rx_trace_code_owner`]) owns
/// the pack; a later dispensing is refused it unless it is that dispensing's own retry.
pub fn rx_trace_code_owners(drug_trac_codg: &str) -> String {
    format!("rx:pack:{drug_trac_codg}:owners")
}

/// Owner slot `n` of a traceability code (`PackOwner`), written right after its claim.
pub fn rx_trace_code_owner(drug_trac_codg: &str, n: i64) -> String {
    format!("rx:pack:{drug_trac_codg}:owner:{n}")
}

/// The log of a pharmacy's medication record for a person (E6): one record per dispensing of
/// a drug; the first for a drug opens the record.
pub fn rx_medication_record(pharmacy: &str, psn_no: &str) -> String {
    format!("rx:pharmacy:{pharmacy}:person:{psn_no}:medication")
}

/// The log of a region's prescription policies (`RegionPolicy` with its effective date),
/// published by `PUT /api/prescriptions/regions/{admdvs}/policy`.
pub fn rx_region_policy(admdvs: &str) -> String {
    format!("rx:region:{admdvs}:policy")
}

/// A designated institution's record (`Record<Institution>`), by `fixmedins_code`. Written by
/// the catalogue component's `PUT /api/registry/institutions/{fixmedins_code}`; read by its GET,
/// and by the pharmacy and physician PUTs to check that a linked institution is registered.
pub fn registry_institution(fixmedins_code: &str) -> String {
    format!("registry:institution:{fixmedins_code}")
}

/// A designated pharmacy's record (`Record<Pharmacy>`), by `fixmedins_code`. Written by the
/// catalogue component's `PUT /api/registry/pharmacies/{fixmedins_code}` before its city log
/// entry; read by its GET and by the pharmacist PUT (is the pharmacy registered?).
pub fn registry_pharmacy(fixmedins_code: &str) -> String {
    format!("registry:pharmacy:{fixmedins_code}")
}

/// A physician's record (`Record<Physician>`), by national physician code. Written by the
/// catalogue component's `PUT /api/registry/physicians/{dr_code}`; read by its GET.
pub fn registry_physician(dr_code: &str) -> String {
    format!("registry:physician:{dr_code}")
}

/// A pharmacist's record (`Record<Pharmacist>`), by national pharmacist code. Written by the
/// catalogue component's `PUT /api/registry/pharmacists/{phar_code}`; read by its GET.
pub fn registry_pharmacist(phar_code: &str) -> String {
    format!("registry:pharmacist:{phar_code}")
}

/// An insured person's record (`Record<Person>`), by `psn_no`: the ID number only masked and
/// as a keyed digest, never raw. Written by the catalogue component's
/// `PUT /api/registry/persons/{psn_no}`; read by its GET.
pub fn registry_person(psn_no: &str) -> String {
    format!("registry:person:{psn_no}")
}

/// The name of a city's pharmacy log (see [`crate::log`]; its keys are [`log_head`],
/// [`log_record`] and [`log_version`] of this name): every pharmacy PUT appends the pharmacy's
/// public record to its city's log, and a "left" record to the old city's log when it moves.
/// Read by `GET /api/registry/pharmacies?admdvs=…` through a per-instance reader, validated by
/// one read of the log's version. `admdvs` is six digits.
pub fn registry_city_pharmacies(admdvs: &str) -> String {
    format!("registry:city:{admdvs}:pharmacies")
}

/// Set when the catalogue component starts seeding demo data (variable `demo_data`), before
/// its first write: a seed interrupted by a crash is completed on the next request.
pub fn demo_seeding() -> String {
    "demo:seeding".to_string()
}

/// Set when the demo seed is complete: instances stop checking.
pub fn demo_seeded() -> String {
    "demo:seeded".to_string()
}

/// The version counter of a settlement (`increment`); `setl_id` is derived from the settling
/// party and its settlement number.
pub fn settle_version_counter(setl_id: &str) -> String {
    format!("settle:{setl_id}:version")
}

/// Version `version` of a settlement (`SettlementRecord`).
pub fn settle_version(setl_id: &str, version: i64) -> String {
    format!("settle:{setl_id}:v:{version}")
}

/// The head counter of the holders of what is settled at most once (`increment`): the newest
/// holder slot claimed. `held` is `rx:{hi_rxno}` for a prescription (P8, S8) or
/// `receipt:{fixmedins_code}:{receipt_no}` for a receipt reimbursed manually (S4, 零星报销).
/// It is held by one settlement at a time; after that settlement is reversed, the next
/// settlement claims the next slot (S8: settled again after a reversal).
pub fn settle_holders(held: &str) -> String {
    format!("settle:{held}:holders")
}

/// Holder slot `n` of [`settle_holders`]: the `setl_id` that claimed it ([`slot_claims`] +1
/// gave it 1), written right after the claim.
pub fn settle_holder(held: &str, n: i64) -> String {
    format!("settle:{held}:holder:{n}")
}

/// The log of a region's settlement policies (`Dated<SettlementPolicy>`).
pub fn settle_region_policy(admdvs: &str) -> String {
    format!("settle:region:{admdvs}:policy")
}

/// A person's calendar year of settlements (`store::year`): the id under which its versions
/// are kept.
pub fn settle_person_year(psn_no: &str, year: i32) -> String {
    format!("settle:person:{psn_no}:year:{year}")
}

/// The head counter of a person's year's versions (`id` from [`settle_person_year`]).
pub fn settle_year_version_counter(id: &str) -> String {
    format!("{id}:version")
}

/// Version `n` of a person's year (`store::year::YearTotals`: totals in fen by accumulator,
/// the settlements counted and reversed), written once by the settlement or reversal that
/// claimed it ([`slot_claims`]).
pub fn settle_year_version(id: &str, n: i64) -> String {
    format!("{id}:v:{n}")
}

/// A ledger of a region's month (`store::ledger`): `dimension` `drug` or `party`, its code,
/// and the shard of the settlements it counts. The id under which its versions are kept.
pub fn ledger(admdvs: &str, month: &str, dimension: &str, code: &str, shard: u32) -> String {
    format!("ledger:{admdvs}:{month}:{dimension}:{code}:{shard}")
}

/// The head counter of a ledger's versions (`id` from [`ledger`]).
pub fn ledger_version_counter(id: &str) -> String {
    format!("{id}:version")
}

/// Version `n` of a ledger (`store::ledger::LedgerRecord`: totals by row and field, and the
/// event the version added), written once by the settlement or reversal that claimed it.
pub fn ledger_version(id: &str, n: i64) -> String {
    format!("{id}:v:{n}")
}

/// The log of the parties (pharmacies, institutions) that settled in a region's month.
pub fn settle_region_month_parties(admdvs: &str, month: &str) -> String {
    format!("settle:region:{admdvs}:month:{month}:parties")
}

/// Marks that party `code` is in the log of a region's month.
pub fn settle_region_month_party_listed(admdvs: &str, month: &str, code: &str) -> String {
    format!("settle:region:{admdvs}:month:{month}:party:{code}:listed")
}

/// The log of the drugs settled in a region's month (one `ReportedDrug` each).
pub fn settle_region_month_drugs(admdvs: &str, month: &str) -> String {
    format!("settle:region:{admdvs}:month:{month}:drugs")
}

/// Marks that drug `code` is in the log of a region's month.
pub fn settle_region_month_drug_listed(admdvs: &str, month: &str, code: &str) -> String {
    format!("settle:region:{admdvs}:month:{month}:drug:{code}:listed")
}

/// The log of a person's settlements, or of a pharmacy's settlements on a day (`YYYYMMDD`).
pub fn settle_index(kind: &str, code: &str) -> String {
    format!("settle:{kind}:{code}:settlements")
}

/// Marks that settlement `setl_id` is in the index `settle_index(kind, code)`.
pub fn settle_listed(setl_id: &str, kind: &str, code: &str) -> String {
    format!("settle:{setl_id}:listed:{kind}:{code}")
}

/// The log of a region's alert ids (`store::alerts`).
pub fn monitor_region_alerts(admdvs: &str) -> String {
    format!("monitor:region:{admdvs}:alerts")
}

/// Marks that alert `alert_id` is in its region's log.
pub fn monitor_alert_listed(alert_id: &str) -> String {
    format!("monitor:alert:{alert_id}:listed")
}

/// The head counter of an alert's versions.
pub fn monitor_alert_version_counter(alert_id: &str) -> String {
    format!("monitor:alert:{alert_id}:version")
}

/// Version `n` of an alert (`store::alerts::AlertRecord`): raised, assigned, noted, closed.
pub fn monitor_alert_version(alert_id: &str, n: i64) -> String {
    format!("monitor:alert:{alert_id}:v:{n}")
}

/// The log of a region's smart-monitoring thresholds (`Dated<rules::monitoring::Thresholds>`).
pub fn monitor_region_thresholds(admdvs: &str) -> String {
    format!("monitor:region:{admdvs}:thresholds")
}

/// Where a person last had a drug dispensed, per pharmacy (`store::alerts::PersonPharmacies`):
/// the id under which its versions are kept.
pub fn monitor_person_drug_pharmacies(psn_no: &str, med_list_codg: &str) -> String {
    format!("monitor:person:{psn_no}:drug:{med_list_codg}:pharmacies")
}

/// The head counter of those versions.
pub fn monitor_person_drug_pharmacies_counter(id: &str) -> String {
    format!("{id}:version")
}

/// Version `n` of them.
pub fn monitor_person_drug_pharmacies_version(id: &str, n: i64) -> String {
    format!("{id}:v:{n}")
}

/// The log of a city's designated institutions (`store::registry::InstitutionEvent`).
pub fn registry_city_institutions(admdvs: &str) -> String {
    format!("registry:city:{admdvs}:institutions")
}

/// A city's stocking of a drug (`store::stocking::DrugStocking`): the id its versions are kept
/// under.
pub fn monitor_stocking(city: &str, med_list_codg: &str) -> String {
    format!("monitor:city:{city}:drug:{med_list_codg}:stocking")
}

/// The head counter of a stocking's versions.
pub fn monitor_stocking_version_counter(id: &str) -> String {
    format!("{id}:version")
}

/// Version `n` of a stocking.
pub fn monitor_stocking_version(id: &str, n: i64) -> String {
    format!("{id}:v:{n}")
}

/// An institution's formulary adjustment for the edition in force from `edition`
/// (`store::stocking::FormularyAdjustment`).
pub fn monitor_formulary(fixmedins_code: &str, edition: chrono::NaiveDate) -> String {
    format!("monitor:formulary:{fixmedins_code}:edition:{edition}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_namespaced_by_capability() {
        assert_eq!(revoked_token("abc"), "auth:revoked:abc");
        assert_eq!(health_probe("filing"), "health:probe:filing");
        assert_eq!(catalogue_chunk("ab12", 3), "catalogue:edition:ab12:chunk:3");
        assert_eq!(catalogue_directory("ab12"), "catalogue:edition:ab12:directory");
        assert_eq!(catalogue_manifest("ab12"), "catalogue:edition:ab12");
        assert_eq!(log_head(CATALOGUE_LOG), "catalogue:log:head");
        assert_eq!(log_record(CATALOGUE_LOG, 7), "catalogue:log:7");
        assert_eq!(log_version(CATALOGUE_LOG), "catalogue:version");
        assert_eq!(registry_institution("H1"), "registry:institution:H1");
        assert_eq!(registry_pharmacy("P1"), "registry:pharmacy:P1");
        assert_eq!(registry_physician("D1"), "registry:physician:D1");
        assert_eq!(registry_pharmacist("F1"), "registry:pharmacist:F1");
        assert_eq!(registry_person("N1"), "registry:person:N1");
        assert_eq!(log_version(&registry_city_pharmacies("420100")), "registry:city:420100:pharmacies:version");
        assert_eq!(settle_person_year("N1", 2026), "settle:person:N1:year:2026");
        assert_eq!(ledger("420100", "202612", "drug", "XA01", 3), "ledger:420100:202612:drug:XA01:3");
    }
}
