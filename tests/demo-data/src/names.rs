//! Which catalogue entries a row of the outpatient table means.
//!
//! The table names a drug by its generic name and a dosage form (`芬戈莫德`, 口服常释剂型). The
//! catalogue names most of the same drugs by product name, with the salt and the form in the name
//! and no dosage form of its own (`盐酸芬戈莫德胶囊`); only some entries carry a generic name and a
//! 凡例 dosage form (`托法替布`, 口服常释剂型). So an entry is read as a product: its name less the
//! form's prefix or ending is the drug, possibly as a salt, and the form is the entry's own or the
//! one its name implies.

/// Product-name endings and the dosage form each stands for: the catalogue's 凡例 forms (分散片,
/// 软胶囊 are 口服常释剂型; 缓释片 is 缓释控释剂型), or more specific injection forms, as the
/// table writes them (微球注射剂). Endings that end with another ending come before it.
const FORM_ENDINGS: [(&str, &str); 9] = [
    ("缓释注射液", "缓释注射剂"),
    ("注射液", "注射剂"),
    ("微球", "微球注射剂"),
    ("分散片", "口服常释剂型"),
    ("缓释片", "缓释控释剂型"),
    ("片", "口服常释剂型"),
    ("软胶囊", "口服常释剂型"),
    ("胶囊", "口服常释剂型"),
    ("颗粒", "颗粒剂"),
];
/// `注射用…`: a powder (or microspheres) for injection.
const FOR_INJECTION: (&str, &str) = ("注射用", "注射剂");

/// Text as compared here: full-width letters, digits and punctuation (`（预充式）`) as their ASCII
/// twins, and no whitespace at all (the catalogue's cells keep the PDF's stray spaces).
pub fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// An entry's name and dosage form, read as a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// The name less its form: the drug, or one of its salts (`盐酸芬戈莫德`).
    base: String,
    /// The entry's own dosage form, else the one its name implies; `None` when neither says.
    pub form: Option<String>,
}

impl Product {
    pub fn of(name: &str, dosage_form: Option<&str>) -> Product {
        let mut base = normalise(name);
        // a trailing qualifier, `醋酸兰瑞肽缓释注射液(预充式)`, or an alias, `右丙亚胺(右雷佐生)`
        if base.ends_with(')')
            && let Some(open) = base.rfind('(')
        {
            base.truncate(open);
        }
        let mut implied = None;
        if let Some(rest) = base.strip_prefix(FOR_INJECTION.0) {
            base = rest.to_owned();
            implied = Some(FOR_INJECTION.1);
        }
        if let Some((ending, form)) = FORM_ENDINGS.iter().find(|(ending, _)| base.ends_with(ending)) {
            base.truncate(base.len() - ending.len());
            implied = Some(form);
        }
        Product { base, form: dosage_form.map(normalise).or(implied.map(str::to_owned)) }
    }

    /// Whether this is the drug `generic` (normalised): the same name, or one of its salts, which
    /// Chinese names put first and end with 酸 (`盐酸`, `乙磺酸`, `醋酸`).
    pub fn is(&self, generic: &str) -> bool {
        self.base.strip_suffix(generic).is_some_and(|salt| salt.is_empty() || salt.ends_with('酸'))
    }
}

/// Whether two dosage forms (normalised) can name the same product: either names the other, as
/// the table may be more specific than the catalogue (`微球注射剂` for a 注射剂) or less
/// (`缓释注射剂(预充式)` for a 缓释注射剂).
pub fn forms_agree(a: &str, b: &str) -> bool {
    a.contains(b) || b.contains(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(name: &str, form: Option<&str>) -> (String, Option<String>) {
        let product = Product::of(name, form);
        (product.base, product.form)
    }

    #[test]
    fn reads_the_drug_and_form_out_of_product_names() {
        let read = |base: &str, form: &str| (base.to_owned(), Some(form.to_owned()));
        assert_eq!(product("盐酸芬戈莫德胶囊", None), read("盐酸芬戈莫德", "口服常释剂型"));
        assert_eq!(product("乙磺酸尼达尼布软胶囊", None), read("乙磺酸尼达尼布", "口服常释剂型"));
        assert_eq!(product("枸橼酸托法替布缓释片", None), read("枸橼酸托法替布", "缓释控释剂型"));
        assert_eq!(product("注射用醋酸奥曲肽微球", None), read("醋酸奥曲肽", "微球注射剂"));
        assert_eq!(product("注射用英夫利西单抗", None), read("英夫利西单抗", "注射剂"));
        assert_eq!(product("醋酸兰瑞肽缓释注射液（预充式）", None), read("醋酸兰瑞肽", "缓释注射剂"));
        assert_eq!(product("地拉罗司", Some("口服常释剂型")), read("地拉罗司", "口服常释剂型"));
        assert_eq!(product("某药", None), ("某药".to_owned(), None));
    }

    #[test]
    fn a_salt_is_the_drug_but_another_drug_is_not() {
        assert!(Product::of("盐酸芬戈莫德胶囊", None).is("芬戈莫德"));
        assert!(Product::of("依达拉奉氯化钠注射液", None).is("依达拉奉氯化钠"));
        assert!(!Product::of("注射用奥马珠单抗α", None).is("奥马珠单抗"));
        assert!(!Product::of("氨氯地平阿托伐他汀钙片", None).is("阿托伐他汀钙"));
    }

    #[test]
    fn forms_agree_when_either_names_the_other() {
        assert!(forms_agree("注射剂", "微球注射剂"));
        assert!(forms_agree(&normalise("缓释注射剂（预充式）"), "缓释注射剂"));
        assert!(!forms_agree("口服常释剂型", "颗粒剂"));
    }

    #[test]
    fn normalises_full_width_text_and_whitespace() {
        assert_eq!(normalise(" 限肢端肥大症， 按说明书\u{3000}用药（ALS）"), "限肢端肥大症,按说明书用药(ALS)");
    }
}
