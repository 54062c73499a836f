//! The 谈判药门诊用药保障目录 at the end of the city's draft notice (`004_…`, rule S4): 23 drugs,
//! each with a dosage form, a restriction and an annual maximum per patient.
//!
//! The text is a transcription of a table: after the heading, one block per table row, blocks
//! separated by an empty line, one cell per line, each cell indented by a tab (an empty cell is
//! a lone tab). The first block is the header.

use anyhow::{Context as _, bail, ensure};
use rust_decimal::Decimal;

const HEADING: &str = "谈判药门诊用药保障目录";
/// The header row; 备注 appears twice: the national restriction, then the city's own remark.
const HEADER: [&str; 6] = ["编号", "药品名称", "剂型", "备注", "年度最高限额", "备注"];

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDrug {
    pub number: u32,
    /// The generic name, without salt or dosage form (`芬戈莫德`).
    pub name: String,
    /// Usually a dosage form of the catalogue's 凡例 (`口服常释剂型`), sometimes a more specific
    /// one (`微球注射剂`).
    pub dosage_form: String,
    /// The drug's annual maximum per patient, in yuan, to 2 places (按该药品说明书年度最高药品费用确定:
    /// the label's highest annual drug cost, rule S4).
    pub annual_max: Decimal,
    /// The second 备注: the city's own remark, narrower than the national restriction of the
    /// first (奥曲肽: 限肢端肥大症), when the row has one.
    pub remark: Option<String>,
}

/// Reads the table from the notice's text, refusing anything that is not exactly its layout, so
/// a changed source fails the generator instead of producing a different region silently.
pub fn parse(text: &str) -> anyhow::Result<Vec<TableDrug>> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().rposition(|line| line.trim() == HEADING).with_context(|| format!("no line {HEADING:?}"))?;
    let mut blocks = lines[start + 1..].split(|line| line.is_empty()).filter(|block| !block.is_empty());
    let cells = |block: &[&str]| -> anyhow::Result<Vec<String>> {
        block
            .iter()
            .map(|line| line.strip_prefix('\t').map(|cell| cell.trim().to_owned()))
            .collect::<Option<Vec<_>>>()
            .with_context(|| format!("a table cell is a tab-indented line: {block:?}"))
    };
    let header = cells(blocks.next().context("the table has no header")?)?;
    ensure!(header == HEADER, "the table's header is {header:?}, expected {HEADER:?}");

    let mut drugs = Vec::new();
    for block in blocks {
        let row = cells(block)?;
        let [number, name, dosage_form, _restriction, annual_max, remark] = &row[..] else {
            bail!("a table row has {} cells: {row:?}", HEADER.len());
        };
        let expected = drugs.len() as u32 + 1;
        ensure!(*number == expected.to_string(), "row {number:?} is out of sequence: expected {expected}");
        ensure!(!name.is_empty(), "row {number} has no drug name");
        let amount: Decimal = annual_max.parse().with_context(|| format!("row {number}: annual maximum {annual_max:?}"))?;
        ensure!(amount > Decimal::ZERO && amount.scale() <= 2, "row {number}: {annual_max:?} is not a yuan amount");
        let mut annual_max = amount;
        annual_max.rescale(2);
        let remark = (!remark.is_empty()).then(|| remark.clone());
        drugs.push(TableDrug { number: expected, name: name.clone(), dosage_form: dosage_form.clone(), annual_max, remark });
    }
    ensure!(!drugs.is_empty(), "the table has no rows");
    Ok(drugs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "谈判药门诊用药保障目录\n\n\t编号\n\t药品名称\n\t剂型\n\t备注\n\t年度最高限额\n\t备注\n\n";

    #[test]
    fn reads_rows_with_empty_cells_and_two_decimal_amounts() {
        let text = format!(
            "正文\n{HEAD}\t1\n\t麦格司他\n\t口服常释剂型\n\t限C型尼曼匹克病患者。\n\t281000\n\t\n\n\t2\n\t地拉罗司\n\t口服常释剂型\n\t\n\t77000\n\t\n\n\n"
        );
        let drugs = parse(&text).expect("the layout");
        assert_eq!(drugs.len(), 2);
        assert_eq!((drugs[1].number, drugs[1].name.as_str()), (2, "地拉罗司"));
        assert_eq!(drugs[0].annual_max.to_string(), "281000.00");
        assert_eq!(drugs[0].remark, None);
    }

    #[test]
    fn reads_the_citys_own_remark() {
        let text = format!("{HEAD}\t1\n\t奥曲肽\n\t微球注射剂\n\t限胃肠胰内分泌肿瘤、肢端肥大症，按说明书用药。\n\t66000\n\t限肢端肥大症\n\n");
        let drugs = parse(&text).expect("the layout");
        assert_eq!(drugs[0].remark.as_deref(), Some("限肢端肥大症"));
    }

    #[test]
    fn refuses_what_is_not_the_layout() {
        let row = |number: &str, cells: &str| format!("{HEAD}\t{number}\n\t麦格司他\n\t口服常释剂型\n{cells}");
        for text in [
            row("1", "\t限。\n\t281000\n"),       // a cell missing
            row("2", "\t限。\n\t281000\n\t\n"),   // out of sequence
            row("1", "\t限。\n\t28万\n\t\n"),     // not an amount
            row("1", "限。\n\t281000\n\t\n"),     // not indented
            HEAD.replace("年度最高限额", "限额"), // another header
            "正文\n".to_owned(),                  // no table
        ] {
            assert!(parse(&text).is_err(), "{text:?}");
        }
    }
}
