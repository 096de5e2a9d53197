//! Finding the setting a mistyped variable meant.

/// The edit distance between two strings (optimal string alignment: insertions,
/// deletions, substitutions and transpositions of neighbours each count 1).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: two back (for transpositions), previous, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

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
        .map(|name| (edit_distance(unknown, name), name))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, name)| (*distance, *name))
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_transpositions_once() {
        assert_eq!(edit_distance("APP_PROT", "APP_PORT"), 1);
        assert_eq!(edit_distance("PORT", "PORT"), 0);
        assert_eq!(edit_distance("", "ABC"), 3);
        assert_eq!(edit_distance("KITTEN", "SITTING"), 3);
    }

    #[test]
    fn suggests_only_close_names() {
        let known = ["APP_PORT", "APP_HOST", "APP_DATABASE_URL"];
        assert_eq!(closest("APP_PROT", "APP_", known), Some("APP_PORT"));
        assert_eq!(
            closest("APP_DATABSE_URL", "APP_", known),
            Some("APP_DATABASE_URL")
        );
        assert_eq!(closest("APP_COLOR", "APP_", known), None);
    }
}
