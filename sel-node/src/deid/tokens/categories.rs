//! Engine labels and the PHI processing API's category names, in one table.
//!
//! The reference names categories with lower-case words (`name`, `ssn`,
//! `birthdate`); the engine labels findings with upper-case labels
//! (`PERSON`, `SSN`, `DATE`). A token carries the category upper-cased
//! (`PHI__NAME__…`). A label not in the table (a user category, whose label
//! is its name upper-cased) maps to its lower-cased self, so a user category
//! `ward_code` gives category `ward_code` and tokens `PHI__WARD_CODE__…`.
//! The engine does not tell a birth date from any other date, so there is
//! no `birthdate`: every date is `date`.

/// Built-in label → category name.
pub const LABEL_CATEGORIES: &[(&str, &str)] = &[
    ("PERSON", "name"),
    ("DATE", "date"),
    ("AGE", "age"),
    ("PHONE", "phone"),
    ("FAX", "fax"),
    ("EMAIL", "email"),
    ("URL", "url"),
    ("IP", "ip_address"),
    ("SSN", "ssn"),
    ("SIN", "sin"),
    ("NPI", "npi"),
    ("DEA", "dea"),
    ("MRN", "mrn"),
    ("HICN", "hicn"),
    ("MBI", "mbi"),
    ("HEALTH_PLAN", "health_plan"),
    ("HEALTH_CARD", "health_card"),
    ("ACCOUNT", "account_number"),
    ("CREDIT_CARD", "credit_card"),
    ("IBAN", "iban"),
    ("ABA_ROUTING", "routing_number"),
    ("ADDRESS", "address"),
    ("ZIP", "zip_code"),
    ("POSTAL_CODE_CA", "postal_code"),
    ("LICENSE", "license_number"),
    ("LICENSE_PLATE", "license_plate"),
    ("VIN", "vin"),
    ("DEVICE_ID", "device_id"),
];

/// The category name of an engine label.
pub fn category_of(label: &str) -> String {
    LABEL_CATEGORIES
        .iter()
        .find(|(l, _)| *l == label)
        .map(|(_, c)| (*c).to_string())
        .unwrap_or_else(|| label.to_ascii_lowercase())
}

/// The categories of `labels` (an engine's labels), sorted, without
/// duplicates: the active categories `phi_type` must be one of.
pub fn active_categories(labels: &[String]) -> Vec<String> {
    let mut out: Vec<String> = labels.iter().map(|l| category_of(l)).collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deid::Engine;
    use crate::deid::category::valid_name;

    #[test]
    fn every_engine_label_has_a_valid_category_and_the_table_is_used() {
        let labels = Engine::new().labels();
        for label in &labels {
            assert!(valid_name(&category_of(label)), "{label}");
        }
        // Every table row names a label the engine really reports, so the
        // table cannot silently drift from the recognizers.
        for (label, _) in LABEL_CATEGORIES {
            assert!(
                labels.iter().any(|l| l == label),
                "{label} is not an engine label"
            );
        }
        assert_eq!(category_of("PERSON"), "name");
        assert_eq!(category_of("WARD_CODE"), "ward_code");
        let active = active_categories(&labels);
        assert!(active.contains(&"name".to_string()) && active.contains(&"ssn".to_string()));
    }
}
