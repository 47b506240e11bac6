-- Cloned voices with the consent they were created under, their recordings, and voice
-- designs with their candidates.
--
-- Consent is permanent: a voice's consent columns (and its owner and upstream uuid) never
-- change, and neither voices nor recordings are ever deleted (a voice is soft-deleted with
-- `deleted_at`). Triggers enforce both, whatever the client.
CREATE TABLE clone_voices (
    id                 uuid PRIMARY KEY,
    account_id         uuid NOT NULL REFERENCES accounts (id),
    upstream_uuid      text NOT NULL,
    name               text NOT NULL,
    voice_type         text NOT NULL CHECK (voice_type IN ('rapid', 'professional')),
    language           text NOT NULL,
    description        text NULL,
    source             text NOT NULL CHECK (source IN ('recordings', 'design')),
    design_id          uuid NULL,
    consent_text       text NOT NULL,
    consent_account_id uuid NOT NULL,
    consent_key_id     text NOT NULL,
    consent_given_at   timestamptz NOT NULL,
    -- The current (latest) build job; a build runs or is done while that job has not failed.
    build_job_id       uuid NULL,
    -- Subscription periods paid (0..paid_periods); period 0 is paid by the build.
    paid_periods       integer NOT NULL DEFAULT 1 CHECK (paid_periods >= 0),
    past_due_since     timestamptz NULL,
    created_at         timestamptz NOT NULL,
    deleted_at         timestamptz NULL,
    CONSTRAINT clone_voices_upstream_uuid_key UNIQUE (upstream_uuid)
);

CREATE INDEX clone_voices_account_created_idx ON clone_voices (account_id, created_at);

CREATE TABLE clone_recordings (
    id            uuid PRIMARY KEY,
    voice_id      uuid NOT NULL REFERENCES clone_voices (id),
    asset_id      uuid NOT NULL REFERENCES assets (id),
    upstream_uuid text NULL,
    name          text NOT NULL,
    text          text NOT NULL,
    duration_ms   bigint NULL,
    created_at    timestamptz NOT NULL,
    CONSTRAINT clone_recordings_voice_name_key UNIQUE (voice_id, name)
);

CREATE FUNCTION indox_clone_voices_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'cloned voice % cannot be deleted: its consent is kept permanently (set deleted_at instead)', OLD.id;
    END IF;
    IF NEW.consent_text IS DISTINCT FROM OLD.consent_text
       OR NEW.consent_account_id IS DISTINCT FROM OLD.consent_account_id
       OR NEW.consent_key_id IS DISTINCT FROM OLD.consent_key_id
       OR NEW.consent_given_at IS DISTINCT FROM OLD.consent_given_at
       OR NEW.account_id IS DISTINCT FROM OLD.account_id
       OR NEW.upstream_uuid IS DISTINCT FROM OLD.upstream_uuid THEN
        RAISE EXCEPTION 'the consent, owner and upstream uuid of cloned voice % cannot be changed', OLD.id;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER clone_voices_guard
    BEFORE UPDATE OR DELETE ON clone_voices
    FOR EACH ROW EXECUTE FUNCTION indox_clone_voices_guard();

CREATE FUNCTION indox_clone_recordings_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'clone recording % cannot be deleted: recordings are kept with the voice''s consent', OLD.id;
END;
$$;

CREATE TRIGGER clone_recordings_guard
    BEFORE DELETE ON clone_recordings
    FOR EACH ROW EXECUTE FUNCTION indox_clone_recordings_guard();

-- TRUNCATE skips row triggers: refuse it on both tables too.
CREATE FUNCTION indox_clone_truncate_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% cannot be truncated: consent is kept permanently', TG_TABLE_NAME;
END;
$$;

CREATE TRIGGER clone_voices_truncate_guard
    BEFORE TRUNCATE ON clone_voices
    FOR EACH STATEMENT EXECUTE FUNCTION indox_clone_truncate_guard();

CREATE TRIGGER clone_recordings_truncate_guard
    BEFORE TRUNCATE ON clone_recordings
    FOR EACH STATEMENT EXECUTE FUNCTION indox_clone_truncate_guard();

-- Voice designs (kept 14 days) and their candidates, with our mirrored copy of each.
CREATE TABLE voice_designs (
    id            uuid PRIMARY KEY,
    account_id    uuid NOT NULL REFERENCES accounts (id),
    upstream_uuid text NOT NULL,
    prompt        text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);

CREATE TABLE voice_design_candidates (
    design_id    uuid NOT NULL REFERENCES voice_designs (id),
    sample_index integer NOT NULL CHECK (sample_index >= 0),
    asset_id     uuid NULL REFERENCES assets (id),
    resemble_url text NOT NULL,
    PRIMARY KEY (design_id, sample_index)
);
