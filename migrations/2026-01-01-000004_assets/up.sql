-- Asset records (objects in the S3-compatible store) and the bytes still waiting for
-- their mirror to it.
CREATE TABLE assets (
    id              uuid PRIMARY KEY,
    account_id      uuid NOT NULL REFERENCES accounts (id),
    class           text NOT NULL,
    object_key      text NOT NULL UNIQUE,
    content_type    text NOT NULL,
    size_bytes      bigint NOT NULL,
    sha256          bytea NOT NULL,
    duration_ms     bigint NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NULL,
    mirrored_at     timestamptz NULL,
    deleted_at      timestamptz NULL,
    resemble_url    text NULL,
    mirror_attempts integer NOT NULL DEFAULT 0,
    mirror_next_at  timestamptz NULL,
    mirror_error    text NULL
);

CREATE INDEX assets_expires_at_idx ON assets (expires_at) WHERE deleted_at IS NULL;
CREATE INDEX assets_mirror_next_at_idx ON assets (mirror_next_at) WHERE mirrored_at IS NULL;
CREATE INDEX assets_account_idx ON assets (account_id, created_at);

CREATE TABLE asset_blobs (
    asset_id uuid PRIMARY KEY REFERENCES assets (id) ON DELETE CASCADE,
    bytes    bytea NOT NULL
);
