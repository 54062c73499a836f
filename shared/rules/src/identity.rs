//! Personal identifiers. ID numbers (`certno`) are personal data: responses show them masked,
//! and keys and logs never contain them (the store keys a person by `psn_no`, or by a keyed
//! hash where only the ID number is known).

use chrono::NaiveDate;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// `psn_cert_type` of the resident identity card (居民身份证), the national interface's default.
pub const RESIDENT_ID_CARD: &str = "01";

/// An ID number as a caller sent it. It can be read ([`Certno::as_str`]) but not serialised,
/// and its `Debug` shows it masked, so it cannot reach a stored record, a response or a log
/// line by accident: what is kept is [`mask_certno`] and a [`CertnoKey`] digest.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Certno(String);

impl Certno {
    pub fn new(certno: impl Into<String>) -> Self {
        Certno(certno.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The canonical form: a resident ID's check character `x` is written `X`, so a number
    /// typed either way masks and digests the same.
    pub fn canonical(&self, cert_type: &str) -> String {
        if cert_type == RESIDENT_ID_CARD { self.0.to_ascii_uppercase() } else { self.0.clone() }
    }
}

impl std::fmt::Debug for Certno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Certno({})", mask_certno(&self.0))
    }
}

/// Why an ID number is not acceptable for its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CertnoError {
    #[error("a resident ID number is 17 digits and a check character (0-9 or X)")]
    ResidentFormat,
    #[error("the birth date in the resident ID number (characters 7 to 14) is not a date")]
    BirthDate,
    #[error("the check character does not match the first 17 digits (GB 11643, ISO 7064 MOD 11-2)")]
    CheckDigit,
    #[error("an ID number of this type is 1 to 32 printable characters")]
    Other,
    #[error("psn_cert_type is a two-digit code (01 = resident identity card)")]
    CertType,
}

/// Checks an ID number against its type (`psn_cert_type`): a resident identity card number
/// (`01`) by the GB 11643 layout, birth date and check character; any other type only by
/// length and printability, since passports and permits follow other countries' rules.
pub fn check_certno(cert_type: &str, certno: &str) -> Result<(), CertnoError> {
    if cert_type.len() != 2 || !cert_type.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CertnoError::CertType);
    }
    if cert_type != RESIDENT_ID_CARD {
        let printable = certno.chars().all(|c| !c.is_control()) && !certno.trim().is_empty();
        return if printable && certno.chars().count() <= 32 { Ok(()) } else { Err(CertnoError::Other) };
    }
    let bytes = certno.as_bytes();
    let well_formed = bytes.len() == 18
        && bytes[..17].iter().all(u8::is_ascii_digit)
        && (bytes[17].is_ascii_digit() || bytes[17].eq_ignore_ascii_case(&b'X'));
    if !well_formed {
        return Err(CertnoError::ResidentFormat);
    }
    if NaiveDate::parse_from_str(&certno[6..14], "%Y%m%d").is_err() {
        return Err(CertnoError::BirthDate);
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let sum: u32 = bytes[..17].iter().zip(WEIGHTS).map(|(digit, weight)| u32::from(digit - b'0') * weight).sum();
    if !bytes[17].eq_ignore_ascii_case(&CHECK[(sum % 11) as usize]) {
        return Err(CertnoError::CheckDigit);
    }
    Ok(())
}

/// The key of ID-number digests: `HMAC-SHA256(secret, label)`, a key derived for this one
/// purpose. A digest lets a later request match a presented ID number (a lookup, a duplicate
/// check) without the number being stored. It must be keyed: there are few enough plausible
/// resident ID numbers (region, birth date, sequence, check) that an unkeyed hash of a leaked
/// store would be reversed by trying them all. The fixed label separates this key from the
/// secret's other use (signing tokens): neither can be computed from the other's outputs.
pub struct CertnoKey([u8; 32]);

impl CertnoKey {
    const LABEL: &[u8] = b"nrdl-dual-channel/certno-digest/v1";

    pub fn derive(secret: &[u8]) -> Self {
        CertnoKey(hmac_sha256(secret, &[Self::LABEL]))
    }

    /// The digest of an ID number of a type, as lowercase hex: the same number and type always
    /// give the same digest under one key. The number is taken in its canonical form.
    pub fn digest(&self, cert_type: &str, certno: &Certno) -> String {
        // a separator no code contains, so ("01", "2…") and ("012", "…") differ
        let mac = hmac_sha256(&self.0, &[cert_type.as_bytes(), &[0x1f], certno.canonical(cert_type).as_bytes()]);
        mac.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Masks an ID number for display: the first 3 and last 4 characters stay, the rest become `*`
/// (`420102199001011234` → `420***********1234`). Short values are masked entirely, since
/// keeping 7 characters of a short number would reveal most of it.
pub fn mask_certno(certno: &str) -> String {
    const KEEP_HEAD: usize = 3;
    const KEEP_TAIL: usize = 4;
    let chars: Vec<char> = certno.chars().collect();
    if chars.len() < 2 * (KEEP_HEAD + KEEP_TAIL) - 4 {
        return "*".repeat(chars.len());
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < KEEP_HEAD || i >= chars.len() - KEEP_TAIL { *c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_middle_of_an_eighteen_digit_id() {
        assert_eq!(mask_certno("420102199001011234"), "420***********1234");
    }

    #[test]
    fn masks_the_middle_of_a_fifteen_digit_id() {
        assert_eq!(mask_certno("420102900101123"), "420********1123");
    }

    #[test]
    fn masks_short_values_entirely() {
        assert_eq!(mask_certno("12345"), "*****");
        assert_eq!(mask_certno(""), "");
    }

    #[test]
    fn keeps_the_length_of_multibyte_input() {
        let masked = mask_certno("港澳居民来往内地通行证H12345678");
        assert_eq!(masked.chars().count(), "港澳居民来往内地通行证H12345678".chars().count());
        assert!(masked.ends_with("5678"));
    }

    #[test]
    fn accepts_resident_ids_whose_check_character_matches() {
        // the examples of GB 11643 itself, one with the check character X (also as x)
        for certno in ["11010519491231002X", "11010519491231002x", "440524188001010014", "420106198503150018"] {
            assert_eq!(check_certno(RESIDENT_ID_CARD, certno), Ok(()), "{certno}");
        }
    }

    #[test]
    fn refuses_resident_ids_with_a_wrong_check_character_date_or_layout() {
        assert_eq!(check_certno("01", "440524188001010015"), Err(CertnoError::CheckDigit));
        assert_eq!(check_certno("01", "420102199001011234"), Err(CertnoError::CheckDigit));
        assert_eq!(check_certno("01", "440524188002300014"), Err(CertnoError::BirthDate));
        let bad_layouts = ["", "44052418800101001", "4405241880010100145", "44052418800101001Y", "X40524188001010014"];
        for bad in bad_layouts.into_iter().chain(["４40524188001010014"]) {
            assert_eq!(check_certno("01", bad), Err(CertnoError::ResidentFormat), "{bad}");
        }
    }

    #[test]
    fn other_id_types_need_1_to_32_printable_characters() {
        assert_eq!(check_certno("03", "E12345678"), Ok(()));
        assert_eq!(check_certno("06", "港澳居民来往内地通行证H12345678"), Ok(()));
        assert_eq!(check_certno("03", &"9".repeat(32)), Ok(()));
        assert_eq!(check_certno("03", &"9".repeat(33)), Err(CertnoError::Other));
        assert_eq!(check_certno("03", "  "), Err(CertnoError::Other));
        assert_eq!(check_certno("03", "E123\n45"), Err(CertnoError::Other));
        assert_eq!(check_certno("1", "E12345678"), Err(CertnoError::CertType));
        assert_eq!(check_certno("0a", "E12345678"), Err(CertnoError::CertType));
    }

    #[test]
    fn digests_are_keyed_deterministic_and_ignore_the_case_of_x() {
        let key = CertnoKey::derive(b"a-secret-of-at-least-thirty-two-bytes");
        let upper = key.digest("01", &Certno::new("11010519491231002X"));
        assert_eq!(upper, key.digest("01", &Certno::new("11010519491231002x")));
        assert_eq!(upper.len(), 64);
        assert!(upper.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(upper, key.digest("03", &Certno::new("11010519491231002X")), "the type is part of the digest");
        let other_key = CertnoKey::derive(b"another-secret-of-at-least-32-bytes");
        assert_ne!(upper, other_key.digest("01", &Certno::new("11010519491231002X")), "the key is part of the digest");
        // HMAC-SHA256 itself (RFC 4231, test case 2)
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn a_certno_shows_itself_masked_when_debugged() {
        let debugged = format!("{:?}", Certno::new("11010519491231002X"));
        assert_eq!(debugged, "Certno(110***********002X)");
    }
}
