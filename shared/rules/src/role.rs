//! Who may call what. A `Principal` is the caller as established by a verified token; its
//! `Role` is what route tables authorize against. Field names are the national interface's
//! (`psn_no`, `dr_code`, `phar_code`, `fixmedins_code`, `admdvs`) so integrators recognise them.

use serde::{Deserialize, Serialize};

/// The roles of the system. `Public` is every caller, with or without a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Public,
    Patient,
    Physician,
    HospitalOffice,
    Pharmacist,
    Agency,
    Admin,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Public,
        Role::Patient,
        Role::Physician,
        Role::HospitalOffice,
        Role::Pharmacist,
        Role::Agency,
        Role::Admin,
    ];

    /// The wire name (`hospital_office`), as used in tokens and the OpenAPI document.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Public => "public",
            Role::Patient => "patient",
            Role::Physician => "physician",
            Role::HospitalOffice => "hospital_office",
            Role::Pharmacist => "pharmacist",
            Role::Agency => "agency",
            Role::Admin => "admin",
        }
    }
}

/// The caller, with the subject its role acts for. Object-level checks compare these fields
/// with the record's (a patient sees only records with their `psn_no`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Principal {
    /// No token: what a mini-program shows before login.
    Public,
    /// An insured person.
    Patient { psn_no: String },
    /// A physician at a designated institution.
    Physician { dr_code: String, fixmedins_code: String },
    /// The medical-insurance office of a designated institution.
    HospitalOffice { fixmedins_code: String },
    /// A pharmacist at a designated pharmacy (pharmacies are designated institutions too).
    Pharmacist { phar_code: String, fixmedins_code: String },
    /// A medical-insurance agency, for its administrative region.
    Agency { admdvs: String },
    /// A system operator.
    Admin { operator: String },
}

/// A principal whose subject fields are empty or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be 1 to 64 letters, digits, '-' or '_'")]
pub struct InvalidSubject {
    pub field: &'static str,
}

impl Principal {
    /// Who acted, for audit fields (`updated_by`, `published_by`, a filing's history): the
    /// admin's operator id, else the role and the subject's code (`agency:420100`,
    /// `physician:D1`); codes contain no `:`, so the two forms cannot be confused.
    pub fn audit_name(&self) -> String {
        match self {
            Principal::Admin { operator } => operator.clone(),
            Principal::Public => "public".to_string(),
            Principal::Patient { psn_no: code }
            | Principal::Physician { dr_code: code, .. }
            | Principal::HospitalOffice { fixmedins_code: code }
            | Principal::Pharmacist { phar_code: code, .. }
            | Principal::Agency { admdvs: code } => format!("{}:{code}", self.role().as_str()),
        }
    }

    pub fn role(&self) -> Role {
        match self {
            Principal::Public => Role::Public,
            Principal::Patient { .. } => Role::Patient,
            Principal::Physician { .. } => Role::Physician,
            Principal::HospitalOffice { .. } => Role::HospitalOffice,
            Principal::Pharmacist { .. } => Role::Pharmacist,
            Principal::Agency { .. } => Role::Agency,
            Principal::Admin { .. } => Role::Admin,
        }
    }

    /// Checks every subject field is a plausible code. Codes end up in store keys and logs,
    /// so anything outside a conservative alphabet is refused rather than escaped.
    pub fn validate(&self) -> Result<(), InvalidSubject> {
        let fields: Vec<(&'static str, &str)> = match self {
            Principal::Public => vec![],
            Principal::Patient { psn_no } => vec![("psn_no", psn_no)],
            Principal::Physician { dr_code, fixmedins_code } => {
                vec![("dr_code", dr_code), ("fixmedins_code", fixmedins_code)]
            }
            Principal::HospitalOffice { fixmedins_code } => vec![("fixmedins_code", fixmedins_code)],
            Principal::Pharmacist { phar_code, fixmedins_code } => {
                vec![("phar_code", phar_code), ("fixmedins_code", fixmedins_code)]
            }
            Principal::Agency { admdvs } => vec![("admdvs", admdvs)],
            Principal::Admin { operator } => vec![("operator", operator)],
        };
        match fields.into_iter().find(|(_, value)| !is_code(value)) {
            Some((field, _)) => Err(InvalidSubject { field }),
            None => Ok(()),
        }
    }
}

/// A code as the national interface uses them: short, ASCII letters, digits, `-` and `_`.
pub fn is_code(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_names_the_operator_or_the_role_and_subject() {
        assert_eq!(Principal::Admin { operator: "ops-1".into() }.audit_name(), "ops-1");
        assert_eq!(Principal::Agency { admdvs: "420100".into() }.audit_name(), "agency:420100");
        assert_eq!(Principal::Physician { dr_code: "D1".into(), fixmedins_code: "H1".into() }.audit_name(), "physician:D1");
        assert_eq!(Principal::Public.audit_name(), "public");
    }

    #[test]
    fn wire_names_match_serde() {
        for role in Role::ALL {
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
        }
    }

    #[test]
    fn principal_role_tag_is_the_role_wire_name() {
        let principal = Principal::HospitalOffice { fixmedins_code: "H1".into() };
        let json = serde_json::to_value(&principal).unwrap();
        assert_eq!(json["role"], principal.role().as_str());
    }

    #[test]
    fn refuses_subjects_that_could_escape_a_key() {
        let bad = Principal::Patient { psn_no: "a:b".into() };
        assert_eq!(bad.validate(), Err(InvalidSubject { field: "psn_no" }));
        let empty = Principal::Pharmacist { phar_code: "".into(), fixmedins_code: "P1".into() };
        assert_eq!(empty.validate(), Err(InvalidSubject { field: "phar_code" }));
        let long = Principal::Agency { admdvs: "9".repeat(65) };
        assert!(long.validate().is_err());
    }

    #[test]
    fn accepts_national_style_codes() {
        let ok = Principal::Physician { dr_code: "D420100012345".into(), fixmedins_code: "H42010000001".into() };
        assert_eq!(ok.validate(), Ok(()));
    }
}
