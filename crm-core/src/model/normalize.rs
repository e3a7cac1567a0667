//! Normal forms used for duplicate detection and search: two spellings of the same e-mail,
//! phone, tax id or company name map to one key.

/// Lower-cased, trimmed e-mail address.
pub fn email_key(address: &str) -> String {
    address.trim().to_lowercase()
}

/// The digits of a phone number, with a leading `+` kept when present. `None` when there are
/// too few digits to identify a line.
pub fn phone_key(number: &str) -> Option<String> {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    (digits.len() >= 5).then_some(digits)
}

/// Upper-cased letters and digits of a tax id or registration number.
pub fn tax_key(id: &str) -> Option<String> {
    let key: String = id
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect();
    (!key.is_empty()).then_some(key)
}

/// Legal-form words dropped from organisation names before comparing them.
const LEGAL_FORMS: &[&str] = &[
    "inc",
    "incorporated",
    "llc",
    "ltd",
    "limited",
    "corp",
    "corporation",
    "co",
    "company",
    "gmbh",
    "ag",
    "sa",
    "sarl",
    "srl",
    "spa",
    "bv",
    "nv",
    "plc",
    "oy",
    "ab",
    "as",
    "kg",
    "ooo",
    "pty",
    "lp",
    "llp",
];

/// Lower-cased words of a name without punctuation or legal-form suffixes: "ACME, Inc." and
/// "Acme Inc" share the key `acme`.
pub fn name_key(name: &str) -> Option<String> {
    let lowered = name.to_lowercase();
    let words: Vec<&str> = lowered
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut end = words.len();
    while end > 1 && LEGAL_FORMS.contains(&words[end - 1]) {
        end -= 1;
    }
    let key = words[..end].join(" ");
    (!key.is_empty()).then_some(key)
}

/// Key that orders names for lists: lower case, trimmed.
pub fn sort_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Lower-cased tag, the form tags are compared and filtered in.
pub fn tag_key(tag: &str) -> String {
    tag.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legal_forms_and_punctuation_do_not_matter() {
        assert_eq!(name_key("ACME, Inc."), name_key("Acme inc"));
        assert_eq!(name_key("Acme GmbH").as_deref(), Some("acme"));
        assert_ne!(name_key("Acme Tools"), name_key("Acme"));
        assert_eq!(name_key("Inc").as_deref(), Some("inc"));
        assert_eq!(name_key("--"), None);
    }

    #[test]
    fn phones_compare_by_digits() {
        assert_eq!(phone_key("+49 (30) 1234-567"), phone_key("4930 1234567"));
        assert_eq!(phone_key("12-3"), None);
    }

    #[test]
    fn tax_ids_ignore_separators_and_case() {
        assert_eq!(tax_key("de 123.456.789"), tax_key("DE123456789"));
        assert_eq!(tax_key(" - "), None);
    }
}
