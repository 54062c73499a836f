//! Personal identifiers. ID numbers (`certno`) are personal data: responses show them masked,
//! and keys and logs never contain them (the store keys a person by `psn_no`, or by a keyed
//! hash where only the ID number is known).

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
}
