-- Bearer tokens of the control API, issued and revoked with `datasync token`. Only a SHA-256
-- digest of each token is kept: the token itself is shown once, when it is created.
CREATE TABLE api_tokens (
    id           text PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    role         text NOT NULL CHECK (role IN ('admin', 'viewer')),
    token_hash   bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);
