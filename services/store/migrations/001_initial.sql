-- The state store: connections, sync settings, links with their snapshots, idempotency records.

CREATE TABLE hubspot_account (
    id           integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    base_url     text NOT NULL,
    access_token text NOT NULL,
    app_secret   text NOT NULL,
    portal_id    text,
    app_id       text,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE connections (
    id          text PRIMARY KEY,
    app         text NOT NULL,
    name        text NOT NULL,
    base_url    text NOT NULL,
    credentials jsonb NOT NULL,
    webhook_key text NOT NULL,
    app_user_id text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE syncs (
    connection_id text NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    object_type   text NOT NULL,
    settings      jsonb NOT NULL,
    state         text NOT NULL DEFAULT 'draft',
    progress      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, object_type)
);

-- One row per record pair (or per lone record that is excluded or failing before it paired).
-- The snapshots hold each side's mapped values as last synced, keyed by mapping; comparing a
-- record with its snapshot is how echoes and no-op changes are recognised.
CREATE TABLE links (
    id              bigserial PRIMARY KEY,
    connection_id   text NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    object_type     text NOT NULL,
    hubspot_id      text,
    app_id          text,
    status          text NOT NULL DEFAULT 'in_sync',
    hubspot_values  jsonb,
    app_values      jsonb,
    error_category  text,
    error_message   text,
    last_synced_at  timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (connection_id, object_type, hubspot_id),
    UNIQUE (connection_id, object_type, app_id)
);
CREATE INDEX links_status ON links (connection_id, object_type, status);

CREATE TABLE watermarks (
    connection_id text NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    object_type   text NOT NULL,
    side          text NOT NULL,
    value         text NOT NULL,
    PRIMARY KEY (connection_id, object_type, side)
);

CREATE TABLE dead_letters (
    id         bigserial PRIMARY KEY,
    source     text NOT NULL,
    payload    bytea NOT NULL,
    error      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
