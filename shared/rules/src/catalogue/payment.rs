//! The 医保支付标准 cell of negotiated and bid entries (rules C3, C5, C6).
//!
//! Shapes found in the 2024 edition (all 425 cells of 协议西药, 协议中成药 and 竞价药品部分,
//! xlsx and CSV alike, after [`super::normalize_cell_text`]):
//!
//! | shape | example | rows |
//! |---|---|---|
//! | `*` alone: confidential (rule C6) | `*` | 252 |
//! | amount, `元`, specification in brackets | `63.00元(10mg/支)` | most of the rest |
//! | several, separated by full-width `；` | `1.70元(1g/袋)；3.95元(3g/袋)` | 2 to 6 per cell |
//! | a half-width `;` among the `；` | `…/瓶)；36. 19元(…/瓶);61.52元(…/瓶)` | 1 |
//! | whole yuan, no decimals | `275元(5mg/片)` | 1 |
//! | a space after the decimal point (PDF artefact) | `96. 11元(0.5ml/瓶)` | 3 parts |
//! | brackets nested inside the specification | `5.68元(10mg/片(按C22H25FN2O4S计))` | many |
//! | `；` *inside* the specification (two-chamber bags, kits) | `34.10元(粉体室1.0g；  液体室100ml:0.9g/袋)` | 8 |
//! | square brackets inside | `90.00元(625ml/袋[中长链脂肪乳注射液125ml；  …])` | 2 |
//! | half-width opening, full-width closing bracket | `31.03元(0. 1ml/支 预灌封注射器）` | 1 |
//! | a pack unit between amount and specification | `479.00元/盒(先诺特韦片0.375g/利托那韦片0.1g,每盒30片)` | 1 |
//! | a reference to a note of the document, no amount | `见备注2(每粒胶囊含碘[131I]的放射性活度为37-3700MBq)` | 1 |
//! | agreement terms in a second bracket after the specification | `113.53元(60mg/粒)(协议有效期内,谈判企业负责向购买…的患者免费提供同疗程的索磷布韦片)` | 3 |
//!
//! So a separator splits standards only outside brackets, and brackets of either width (and
//! square ones) nest freely; the kind of bracket need not match, because the transcription
//! mixes them.

use rust_decimal::Decimal;
use std::str::FromStr;

use super::entry::{PaymentStandard, StandardAmount};

/// What is wrong with a payment-standard cell. `part` is the offending standard (1-based) when
/// the cell holds several.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentCellError {
    #[error("payment standard is empty")]
    Empty,
    #[error("brackets do not balance in {cell:?}")]
    UnbalancedBrackets { cell: String },
    #[error("standard {part} is empty (a separator with nothing on one side)")]
    EmptyPart { part: usize },
    #[error("standard {part} ({text:?}): `*` must stand alone in the cell")]
    ConfidentialNotAlone { part: usize, text: String },
    #[error("standard {part} ({text:?}) does not start with an amount in yuan")]
    MissingAmount { part: usize, text: String },
    #[error("standard {part} ({text:?}): amount must be greater than zero")]
    ZeroAmount { part: usize, text: String },
    #[error("standard {part} ({text:?}): expected 元 after the amount")]
    MissingYuan { part: usize, text: String },
    #[error(
        "standard {part} ({text:?}): expected a specification in brackets, e.g. 63.00元(10mg/支)"
    )]
    MissingSpecification { part: usize, text: String },
    #[error("standard {part} ({text:?}): unexpected text {trailing:?} after the specification")]
    TrailingText {
        part: usize,
        text: String,
        trailing: String,
    },
}

const OPENING: [char; 4] = ['(', '（', '[', '［'];
const CLOSING: [char; 4] = [')', '）', ']', '］'];
const SEPARATORS: [char; 2] = ['；', ';'];
const NOTE_PREFIX: &str = "见备注";

/// Parses one 医保支付标准 cell into its standards, one per specification.
///
/// `*` alone is a single confidential standard without a specification (rule C6); any other
/// cell yields one standard per separated part, in the cell's order.
pub fn parse_payment_standards(cell: &str) -> Result<Vec<PaymentStandard>, PaymentCellError> {
    let cell = cell.trim();
    if cell.is_empty() {
        return Err(PaymentCellError::Empty);
    }
    if cell == "*" {
        return Ok(vec![PaymentStandard {
            specification: None,
            per: None,
            terms: None,
            amount: StandardAmount::Confidential { amount: None },
        }]);
    }
    split_outside_brackets(cell)?
        .into_iter()
        .enumerate()
        .map(|(index, text)| parse_one(index + 1, text.trim()))
        .collect()
}

/// Splits at separators that are not inside any bracket.
fn split_outside_brackets(cell: &str) -> Result<Vec<&str>, PaymentCellError> {
    let unbalanced = || PaymentCellError::UnbalancedBrackets {
        cell: cell.to_owned(),
    };
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (at, c) in cell.char_indices() {
        if OPENING.contains(&c) {
            depth += 1;
        } else if CLOSING.contains(&c) {
            depth = depth.checked_sub(1).ok_or_else(unbalanced)?;
        } else if depth == 0 && SEPARATORS.contains(&c) {
            parts.push(&cell[start..at]);
            start = at + c.len_utf8();
        }
    }
    if depth != 0 {
        return Err(unbalanced());
    }
    parts.push(&cell[start..]);
    Ok(parts)
}

fn parse_one(part: usize, text: &str) -> Result<PaymentStandard, PaymentCellError> {
    let owned = || text.to_owned();
    if text.is_empty() {
        return Err(PaymentCellError::EmptyPart { part });
    }
    if text == "*" {
        return Err(PaymentCellError::ConfidentialNotAlone {
            part,
            text: owned(),
        });
    }
    if let Some(after) = text.strip_prefix(NOTE_PREFIX) {
        let digits_end = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        let (number, rest) = after.split_at(digits_end);
        if number.is_empty() {
            return Err(PaymentCellError::MissingAmount {
                part,
                text: owned(),
            });
        }
        let (specification, terms) = specification(part, text, rest)?;
        return Ok(PaymentStandard {
            specification: Some(specification),
            per: None,
            terms,
            amount: StandardAmount::SeeNote {
                note: format!("{NOTE_PREFIX}{number}"),
            },
        });
    }

    let (amount, rest) = split_amount(text).ok_or_else(|| PaymentCellError::MissingAmount {
        part,
        text: owned(),
    })?;
    if amount.is_zero() {
        return Err(PaymentCellError::ZeroAmount {
            part,
            text: owned(),
        });
    }
    let rest = rest
        .strip_prefix('元')
        .ok_or_else(|| PaymentCellError::MissingYuan {
            part,
            text: owned(),
        })?;
    let (per, rest) = match rest.strip_prefix('/') {
        Some(unit_and_rest) => {
            let unit_end = unit_and_rest.find(OPENING).unwrap_or(unit_and_rest.len());
            let (unit, rest) = unit_and_rest.split_at(unit_end);
            let unit = unit.trim();
            if unit.is_empty() {
                return Err(PaymentCellError::MissingSpecification {
                    part,
                    text: owned(),
                });
            }
            (Some(unit.to_owned()), rest)
        }
        None => (None, rest),
    };
    let (specification, terms) = specification(part, text, rest)?;
    Ok(PaymentStandard {
        specification: Some(specification),
        per,
        terms,
        amount: StandardAmount::Published { amount },
    })
}

/// Reads the leading amount: digits, then optionally a point and more digits. Whitespace right
/// after the point is accepted because the PDF transcription put some there (`96. 11元`); it
/// is nowhere else.
fn split_amount(text: &str) -> Option<(Decimal, &str)> {
    let integer_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if integer_end == 0 {
        return None;
    }
    let (integer, rest) = text.split_at(integer_end);
    let Some(after_point) = rest.strip_prefix('.') else {
        return Some((Decimal::from_str(integer).ok()?, rest));
    };
    let fraction_and_rest = after_point.trim_start();
    let fraction_end = fraction_and_rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(fraction_and_rest.len());
    if fraction_end == 0 {
        return None;
    }
    let (fraction, rest) = fraction_and_rest.split_at(fraction_end);
    Some((
        Decimal::from_str(&format!("{integer}.{fraction}")).ok()?,
        rest,
    ))
}

/// The bracketed specification that must make up the rest of the part, and the optional
/// second bracketed group of agreement terms after it.
fn specification(
    part: usize,
    text: &str,
    rest: &str,
) -> Result<(String, Option<String>), PaymentCellError> {
    let missing = || PaymentCellError::MissingSpecification {
        part,
        text: text.to_owned(),
    };
    let (specification, rest) = bracket_group(rest).ok_or_else(missing)?;
    if specification.is_empty() {
        return Err(missing());
    }
    let (terms, rest) = match bracket_group(rest) {
        Some((terms, rest)) if !terms.is_empty() => (Some(terms), rest),
        _ => (None, rest),
    };
    let trailing = rest.trim();
    if !trailing.is_empty() {
        return Err(PaymentCellError::TrailingText {
            part,
            text: text.to_owned(),
            trailing: trailing.to_owned(),
        });
    }
    Ok((specification, terms))
}

/// Splits `(inner)rest` into the trimmed inner text and the rest; `None` unless `text` starts
/// (after whitespace) with a bracket that closes.
fn bracket_group(text: &str) -> Option<(String, &str)> {
    let text = text.trim_start();
    let mut chars = text.char_indices();
    let (_, first) = chars.next()?;
    if !OPENING.contains(&first) {
        return None;
    }
    let mut depth = 1usize;
    for (at, c) in chars {
        if OPENING.contains(&c) {
            depth += 1;
        } else if CLOSING.contains(&c) {
            depth -= 1;
            if depth == 0 {
                let inner = text[first.len_utf8()..at].trim().to_owned();
                return Some((inner, &text[at + c.len_utf8()..]));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn published(spec: &str, amount: Decimal) -> PaymentStandard {
        PaymentStandard {
            specification: Some(spec.into()),
            per: None,
            terms: None,
            amount: StandardAmount::Published { amount },
        }
    }

    #[test]
    fn a_lone_star_is_one_confidential_standard() {
        // rule C6
        assert_eq!(
            parse_payment_standards("*"),
            Ok(vec![PaymentStandard {
                specification: None,
                per: None,
                terms: None,
                amount: StandardAmount::Confidential { amount: None },
            }])
        );
    }

    #[test]
    fn reads_a_single_standard() {
        assert_eq!(
            parse_payment_standards("63.00元(10mg/支)"),
            Ok(vec![published("10mg/支", dec!(63.00))])
        );
    }

    #[test]
    fn reads_several_standards_with_either_separator() {
        assert_eq!(
            parse_payment_standards(
                "3.18元(5ml:5mg/瓶)；5.40元(10ml:10mg/瓶);61.52元(240ml:240mg/瓶)"
            ),
            Ok(vec![
                published("5ml:5mg/瓶", dec!(3.18)),
                published("10ml:10mg/瓶", dec!(5.40)),
                published("240ml:240mg/瓶", dec!(61.52)),
            ])
        );
    }

    #[test]
    fn keeps_nested_brackets_in_the_specification() {
        assert_eq!(
            parse_payment_standards("5.68元(10mg/片(按C22H25FN2O4S计))"),
            Ok(vec![published("10mg/片(按C22H25FN2O4S计)", dec!(5.68))])
        );
    }

    #[test]
    fn does_not_split_at_a_separator_inside_the_specification() {
        assert_eq!(
            parse_payment_standards(
                "90.00元(625ml/袋[中长链脂肪乳注射液125ml；  复方氨基酸(16)注射液250ml])；153.00元(1250ml/袋)"
            ),
            Ok(vec![
                published(
                    "625ml/袋[中长链脂肪乳注射液125ml；  复方氨基酸(16)注射液250ml]",
                    dec!(90.00)
                ),
                published("1250ml/袋", dec!(153.00)),
            ])
        );
        assert_eq!(
            parse_payment_standards("34.10元(粉体室1.0g；  液体室100ml:0.9g/袋)"),
            Ok(vec![published(
                "粉体室1.0g；  液体室100ml:0.9g/袋",
                dec!(34.10)
            )])
        );
    }

    #[test]
    fn accepts_whole_yuan_and_a_space_after_the_point() {
        assert_eq!(
            parse_payment_standards("275元(5mg/片)"),
            Ok(vec![published("5mg/片", dec!(275))])
        );
        assert_eq!(
            parse_payment_standards("96. 11元(0.5ml/瓶)"),
            Ok(vec![published("0.5ml/瓶", dec!(96.11))])
        );
    }

    #[test]
    fn accepts_mixed_bracket_widths() {
        assert_eq!(
            parse_payment_standards("31.03元(0. 1ml/支 预灌封注射器）"),
            Ok(vec![published("0. 1ml/支 预灌封注射器", dec!(31.03))])
        );
        assert_eq!(
            parse_payment_standards("1.05元（0.5g/片）"),
            Ok(vec![published("0.5g/片", dec!(1.05))])
        );
    }

    #[test]
    fn reads_a_pack_unit_before_the_specification() {
        assert_eq!(
            parse_payment_standards("479.00元/盒(先诺特韦片0.375g/利托那韦片0.1g,每盒30片)"),
            Ok(vec![PaymentStandard {
                specification: Some("先诺特韦片0.375g/利托那韦片0.1g,每盒30片".into()),
                per: Some("盒".into()),
                terms: None,
                amount: StandardAmount::Published {
                    amount: dec!(479.00)
                },
            }])
        );
    }

    #[test]
    fn reads_agreement_terms_after_the_specification() {
        let cell = "8.30元(100mg/片(以C35H46FN5O9S计))(协议有效期内,谈判企业负责向购买达诺瑞韦钠片的患者免费提供同疗程和相应剂量的利托那韦和利巴韦林,详见说明书)";
        let standards = parse_payment_standards(cell).expect("valid cell");
        assert_eq!(
            standards[0].specification.as_deref(),
            Some("100mg/片(以C35H46FN5O9S计)")
        );
        assert_eq!(
            standards[0].amount,
            StandardAmount::Published { amount: dec!(8.30) }
        );
        assert!(
            standards[0]
                .terms
                .as_deref()
                .is_some_and(|t| t.starts_with("协议有效期内,谈判企业负责"))
        );
    }

    #[test]
    fn reads_a_reference_to_a_note() {
        assert_eq!(
            parse_payment_standards("见备注2(每粒胶囊含碘[131I]的放射性活度为37-3700MBq)"),
            Ok(vec![PaymentStandard {
                specification: Some("每粒胶囊含碘[131I]的放射性活度为37-3700MBq".into()),
                per: None,
                terms: None,
                amount: StandardAmount::SeeNote {
                    note: "见备注2".into()
                },
            }])
        );
    }

    #[test]
    fn says_precisely_what_is_wrong() {
        use PaymentCellError::*;
        let text = |s: &str| s.to_owned();
        let cases: Vec<(&str, PaymentCellError)> = vec![
            ("", Empty),
            ("  ", Empty),
            (
                "63.00元(10mg/支",
                UnbalancedBrackets {
                    cell: text("63.00元(10mg/支"),
                },
            ),
            (
                "63.00元10mg/支)",
                UnbalancedBrackets {
                    cell: text("63.00元10mg/支)"),
                },
            ),
            ("63.00元(10mg/支)；", EmptyPart { part: 2 }),
            ("；63.00元(10mg/支)", EmptyPart { part: 1 }),
            (
                "63.00元(10mg/支)；*",
                ConfidentialNotAlone {
                    part: 2,
                    text: text("*"),
                },
            ),
            (
                "元(10mg/支)",
                MissingAmount {
                    part: 1,
                    text: text("元(10mg/支)"),
                },
            ),
            (
                "63.元(10mg/支)",
                MissingAmount {
                    part: 1,
                    text: text("63.元(10mg/支)"),
                },
            ),
            (
                "见备注(说明)",
                MissingAmount {
                    part: 1,
                    text: text("见备注(说明)"),
                },
            ),
            (
                "0.00元(10mg/支)",
                ZeroAmount {
                    part: 1,
                    text: text("0.00元(10mg/支)"),
                },
            ),
            (
                "63.00(10mg/支)",
                MissingYuan {
                    part: 1,
                    text: text("63.00(10mg/支)"),
                },
            ),
            (
                "63.00圆(10mg/支)",
                MissingYuan {
                    part: 1,
                    text: text("63.00圆(10mg/支)"),
                },
            ),
            (
                "63.00元",
                MissingSpecification {
                    part: 1,
                    text: text("63.00元"),
                },
            ),
            (
                "63.00元()",
                MissingSpecification {
                    part: 1,
                    text: text("63.00元()"),
                },
            ),
            (
                "63.00元/(10mg)",
                MissingSpecification {
                    part: 1,
                    text: text("63.00元/(10mg)"),
                },
            ),
            (
                "63.00元10mg/支",
                MissingSpecification {
                    part: 1,
                    text: text("63.00元10mg/支"),
                },
            ),
            (
                "1.00元(1g)(条款)(另一条)",
                TrailingText {
                    part: 1,
                    text: text("1.00元(1g)(条款)(另一条)"),
                    trailing: text("(另一条)"),
                },
            ),
            (
                "1.00元(1g)；63.00元(10mg/支)起",
                TrailingText {
                    part: 2,
                    text: text("63.00元(10mg/支)起"),
                    trailing: text("起"),
                },
            ),
        ];
        for (cell, expected) in cases {
            assert_eq!(parse_payment_standards(cell), Err(expected), "{cell:?}");
        }
    }

    #[test]
    fn errors_read_as_sentences() {
        let error = parse_payment_standards("63.00(10mg/支)").expect_err("no 元");
        assert_eq!(
            error.to_string(),
            r#"standard 1 ("63.00(10mg/支)"): expected 元 after the amount"#
        );
    }

    fn specification() -> impl Strategy<Value = String> {
        // text, optionally with a nested bracket that holds a separator, as the real cells do
        ("[a-z0-9µ/:%.]{1,10}", proptest::option::of("[a-z0-9]{0,6}")).prop_map(|(text, nested)| {
            match nested {
                Some(inner) => format!("{text}({inner}；{inner})"),
                None => text,
            }
        })
    }

    proptest! {
        #[test]
        fn rendered_standards_parse_back(
            standards in proptest::collection::vec(
                (1i64..10_000_000, specification(), proptest::option::of("[盒瓶支]")), 1..6),
            half_width in any::<bool>(),
        ) {
            let separator = if half_width { ";" } else { "；" };
            let cell = standards
                .iter()
                .map(|(fen, spec, per)| {
                    let per = per.as_ref().map(|p| format!("/{p}")).unwrap_or_default();
                    format!("{}元{per}({spec})", Decimal::new(*fen, 2))
                })
                .collect::<Vec<_>>()
                .join(separator);
            let expected: Vec<PaymentStandard> = standards
                .into_iter()
                .map(|(fen, spec, per)| PaymentStandard {
                    specification: Some(spec),
                    per,
                    terms: None,
                    amount: StandardAmount::Published { amount: Decimal::new(fen, 2) },
                })
                .collect();
            prop_assert_eq!(parse_payment_standards(&cell), Ok(expected));
        }

        #[test]
        fn never_panics_on_arbitrary_text(cell in "\\PC{0,40}") {
            let _ = parse_payment_standards(&cell);
        }

        #[test]
        fn never_panics_on_text_made_of_its_own_tokens(cell in "[0-9. 元/()（）\\[\\]；;*见备注a]{0,30}") {
            let _ = parse_payment_standards(&cell);
        }
    }
}
