//! `DROP` and `TRUNCATE`: what an older binary still reads goes away. `DROP INDEX` is
//! read by its words, as the parser does not take every form PostgreSQL does.

use sqlparser::ast::{ObjectName, ObjectType, Truncate};

use super::linter::Linter;
use super::rules;

impl Linter {
    /// A parsed `DROP` of `names`, all of `object_type`.
    pub(super) fn drop(&mut self, object_type: &ObjectType, names: &[ObjectName]) {
        for name in names {
            match object_type {
                ObjectType::Table if !self.is_new(name) => {
                    self.find(rules::DROP_TABLE, format!("drops table {name}"));
                }
                ObjectType::Table | ObjectType::Index => {}
                ObjectType::View | ObjectType::MaterializedView => {
                    self.find(rules::DROP_VIEW, format!("drops view {name}"));
                }
                ObjectType::Schema | ObjectType::Sequence | ObjectType::Type => {
                    self.find(
                        rules::DROP_OBJECT,
                        format!("drops {object_type} {name}").to_lowercase(),
                    );
                }
                other => {
                    self.find(
                        rules::UNCLASSIFIED,
                        format!("drops {other} {name}").to_lowercase(),
                    );
                }
            }
        }
    }

    pub(super) fn truncate(&mut self, truncate: &Truncate) {
        let tables: Vec<String> = truncate
            .table_names
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        self.find(
            rules::TRUNCATE,
            format!("deletes every row of {}", tables.join(", ")),
        );
    }

    /// A `DROP INDEX` statement, from its words ([`drop_index_words`]).
    pub(super) fn drop_index(&mut self, words: &[String]) {
        let concurrently = words.iter().any(|w| w == "CONCURRENTLY");
        let name = words
            .iter()
            .skip(2)
            .find(|w| !matches!(w.as_str(), "CONCURRENTLY" | "IF" | "EXISTS"))
            .map(|w| w.trim_end_matches([',', ';']).to_lowercase())
            .unwrap_or_default();
        if concurrently {
            self.concurrently("drops index");
        } else {
            self.lock_risk(
                rules::DROP_INDEX_NOT_CONCURRENT,
                format!("drops index {name} while blocking writes to its table"),
            );
        }
    }
}

/// The upper-cased words of a `DROP INDEX` statement (which the parser does not
/// take in every form PostgreSQL does, such as `CONCURRENTLY IF EXISTS`).
pub(super) fn drop_index_words(sql: &str) -> Option<Vec<String>> {
    let words: Vec<String> = sql
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    (words.len() >= 3 && words[0] == "DROP" && words[1] == "INDEX").then_some(words)
}
