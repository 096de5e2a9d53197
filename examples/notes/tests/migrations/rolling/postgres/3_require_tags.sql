-- opskit: contract
-- reason: from this release on every note has tags; release N-1 stores notes without them, which this check refuses
ALTER TABLE notes ADD CONSTRAINT notes_tags_required CHECK (tags IS NOT NULL) NOT VALID;
