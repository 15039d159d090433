-- Retrying failing records, deleted and merged records, and the audit trail.

ALTER TABLE links
    ADD COLUMN attempts       integer NOT NULL DEFAULT 0,
    ADD COLUMN next_retry_at  timestamptz,
    ADD COLUMN deleted_side   text,
    ADD COLUMN merged_into    text;
CREATE INDEX links_retry ON links (next_retry_at) WHERE status = 'failing';

-- Every change datasync applied: which record, which field, from what to what, and why.
CREATE TABLE audit (
    id             bigserial PRIMARY KEY,
    connection_id  text NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    object_type    text NOT NULL,
    hubspot_id     text,
    app_id         text,
    target         text NOT NULL,
    op             text NOT NULL,
    field          text,
    old_value      jsonb,
    new_value      jsonb,
    reason         text NOT NULL,
    command_id     text NOT NULL,
    at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_record ON audit (connection_id, object_type, hubspot_id);
CREATE INDEX audit_app_record ON audit (connection_id, object_type, app_id);
