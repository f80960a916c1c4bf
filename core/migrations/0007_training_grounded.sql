-- Training runs (issue 8): how many grounded samples (new items written as Ask prompts with notes,
-- answered and cited or declined) a run mixed in, next to its bare samples and replay.
ALTER TABLE training_runs ADD COLUMN grounded INTEGER NOT NULL DEFAULT 0;
