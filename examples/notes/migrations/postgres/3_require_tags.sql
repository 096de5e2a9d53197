-- opskit: contract
-- reason: every note has tags from this release on ("" for none); release N-1 writes notes without them, which this refuses
-- NOT VALID: rows written before it (NULL tags) stay as they are, and adding the
-- constraint does not scan the table. This release runs with or without it, so the
-- migration job holds it back (NOTES_MIGRATE=expand) until N-1 is gone.
ALTER TABLE notes ADD CONSTRAINT notes_tags_required CHECK (tags IS NOT NULL) NOT VALID;
