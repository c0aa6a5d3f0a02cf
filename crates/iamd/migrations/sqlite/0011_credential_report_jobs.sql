-- The credential report is built in the background, as AWS builds it: GenerateCredentialReport
-- claims the account's row (state INPROGRESS, a lease the builder renews), the builder writes the
-- report in parts of a page of users each (bounded memory at any size), and the last step marks it
-- COMPLETE. Any node may take over a job whose lease ran out.
ALTER TABLE credential_reports ADD COLUMN state TEXT NOT NULL DEFAULT 'COMPLETE';
ALTER TABLE credential_reports ADD COLUMN generation TEXT NOT NULL DEFAULT '';
ALTER TABLE credential_reports ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
CREATE TABLE credential_report_parts (
    account_id TEXT NOT NULL REFERENCES accounts(account_id),
    generation TEXT NOT NULL,
    part BIGINT NOT NULL,
    content BLOB NOT NULL,
    PRIMARY KEY (account_id, generation, part)
);
