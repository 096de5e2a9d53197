//! Finding the setting a mistyped variable meant.

/// The known name closest to `unknown`, if it is close enough to be a typo: within
/// a third of the name's length after the shared `prefix` (at least 2 edits).
pub(crate) fn closest<'a>(
    unknown: &str,
    prefix: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let stem = unknown.strip_prefix(prefix).unwrap_or(unknown);
    let limit = (stem.chars().count() / 3).max(2);
    known
        .into_iter()
        .map(|name| (strsim::osa_distance(unknown, name), name))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, name)| (*distance, *name))
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_only_close_names() {
        let known = ["APP_PORT", "APP_HOST", "APP_DATABASE_URL"];
        // A transposition of neighbours counts as one edit.
        assert_eq!(closest("APP_PROT", "APP_", known), Some("APP_PORT"));
        assert_eq!(
            closest("APP_DATABSE_URL", "APP_", known),
            Some("APP_DATABASE_URL")
        );
        assert_eq!(closest("APP_COLOR", "APP_", known), None);
    }
}
