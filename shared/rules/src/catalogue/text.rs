//! Cell text as the official layout means it.

/// Removes the line wraps a cell picked up when the edition was transcribed from PDF, and the
/// indentation after each, then trims the cell.
///
/// In Chinese text a wrap is not a word break (`不可切除或转\n移性` is `不可切除或转移性`), and
/// the transcription indents continuation lines (`受体\n (EGFR)` is `受体(EGFR)`), so a wrap
/// and the whitespace that follows it both go. Spaces elsewhere are kept verbatim: they are part
/// of the official text (rule C9 keeps restrictions as written). This is exactly what the flat
/// CSV of the same edition did, so xlsx and CSV imports agree.
pub fn normalize_cell_text(cell: &str) -> String {
    let mut out = String::with_capacity(cell.len());
    let mut after_wrap = false;
    for c in cell.chars() {
        if c == '\n' || c == '\r' {
            after_wrap = true;
        } else if after_wrap && c.is_whitespace() {
            // indentation of a continuation line
        } else {
            after_wrap = false;
            out.push(c);
        }
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn joins_wrapped_chinese_text_without_a_space() {
        assert_eq!(
            normalize_cell_text("2024年1月1日至\n2025年12月31日"),
            "2024年1月1日至2025年12月31日"
        );
    }

    #[test]
    fn drops_the_indentation_of_a_continuation_line() {
        assert_eq!(
            normalize_cell_text("表皮生长因子受体\n (EGFR)基因"),
            "表皮生长因子受体(EGFR)基因"
        );
        assert_eq!(normalize_cell_text("a\r\n  b"), "ab");
    }

    #[test]
    fn keeps_spaces_inside_a_line() {
        assert_eq!(
            normalize_cell_text("限：  1.反流性食管炎；  2.十二指肠溃疡。"),
            "限：  1.反流性食管炎；  2.十二指肠溃疡。"
        );
    }

    #[test]
    fn trims_the_cell() {
        assert_eq!(normalize_cell_text("  乙 \n"), "乙");
        assert_eq!(normalize_cell_text("\u{3000}甲"), "甲");
    }

    proptest! {
        #[test]
        fn is_idempotent_and_leaves_no_line_break(cell in "[ \\n\\r\\u{3000}a-c元；(]{0,24}") {
            let once = normalize_cell_text(&cell);
            prop_assert!(!once.contains(['\n', '\r']));
            prop_assert_eq!(normalize_cell_text(&once), once);
        }
    }
}
