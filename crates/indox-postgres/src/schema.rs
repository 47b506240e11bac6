//! The Diesel table definitions, written by hand to match `migrations/`.

diesel::table! {
    accounts (id) {
        id -> Uuid,
        name -> Text,
        balance -> Numeric,
        held -> Numeric,
        markup_rate -> Nullable<Numeric>,
        created_at -> Timestamptz,
        byok -> Bool,
    }
}

diesel::table! {
    api_keys (key_id) {
        key_id -> Text,
        account_id -> Uuid,
        secret_hash -> Bytea,
        label -> Text,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    holds (id) {
        id -> Uuid,
        account_id -> Uuid,
        amount -> Numeric,
        state -> Text,
        request_id -> Text,
        created_at -> Timestamptz,
        resolved_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    ledger_entries (id) {
        id -> Int8,
        account_id -> Uuid,
        kind -> Text,
        amount -> Numeric,
        balance_after -> Numeric,
        held_after -> Numeric,
        usage_id -> Nullable<Uuid>,
        hold_id -> Nullable<Uuid>,
        note -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    provider_resemble_usage (id) {
        id -> Uuid,
        account_id -> Uuid,
        request_id -> Text,
        job_id -> Nullable<Uuid>,
        capability -> Text,
        unit -> Text,
        quantity -> Numeric,
        upstream_quantity -> Nullable<Numeric>,
        unit_price -> Numeric,
        provider_cost -> Numeric,
        markup_rate -> Numeric,
        markup -> Numeric,
        charged -> Numeric,
        currency -> Text,
        asset_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        // `byok bool` is read by `models::UsageRow` only (diesel's `table!` takes 16 columns).
    }
}

diesel::table! {
    idempotency_keys (account_id, key) {
        account_id -> Uuid,
        key -> Text,
        fingerprint -> Bytea,
        state -> Text,
        response_status -> Nullable<Int4>,
        response_body -> Nullable<Bytea>,
        locked_at -> Timestamptz,
        created_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    assets (id) {
        id -> Uuid,
        account_id -> Uuid,
        class -> Text,
        object_key -> Text,
        content_type -> Text,
        size_bytes -> Int8,
        sha256 -> Bytea,
        duration_ms -> Nullable<Int8>,
        created_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
        mirrored_at -> Nullable<Timestamptz>,
        deleted_at -> Nullable<Timestamptz>,
        resemble_url -> Nullable<Text>,
        mirror_attempts -> Int4,
        mirror_next_at -> Nullable<Timestamptz>,
        mirror_error -> Nullable<Text>,
    }
}

diesel::table! {
    asset_blobs (asset_id) {
        asset_id -> Uuid,
        bytes -> Bytea,
    }
}

diesel::table! {
    tasks (id) {
        id -> Int8,
        kind -> Text,
        payload -> Jsonb,
        state -> Text,
        attempts -> Int4,
        run_at -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

// `clone_voices` (18 columns) is not declared here: diesel's `table!` takes at most 16
// columns without its `32-column-tables` feature (off in this workspace, it more than doubles
// diesel's build time), so `voices.rs` reads and writes it with `sql_query`, like `jobs`.

diesel::table! {
    clone_recordings (id) {
        id -> Uuid,
        voice_id -> Uuid,
        asset_id -> Uuid,
        upstream_uuid -> Nullable<Text>,
        name -> Text,
        text -> Text,
        duration_ms -> Nullable<Int8>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    voice_designs (id) {
        id -> Uuid,
        account_id -> Uuid,
        upstream_uuid -> Text,
        prompt -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    voice_design_candidates (design_id, sample_index) {
        design_id -> Uuid,
        sample_index -> Int4,
        asset_id -> Nullable<Uuid>,
        resemble_url -> Text,
    }
}

diesel::joinable!(api_keys -> accounts (account_id));
diesel::joinable!(holds -> accounts (account_id));
diesel::joinable!(ledger_entries -> accounts (account_id));
diesel::joinable!(provider_resemble_usage -> accounts (account_id));
diesel::joinable!(idempotency_keys -> accounts (account_id));
diesel::joinable!(assets -> accounts (account_id));
diesel::joinable!(asset_blobs -> assets (asset_id));
diesel::joinable!(clone_recordings -> assets (asset_id));
diesel::joinable!(voice_designs -> accounts (account_id));
diesel::joinable!(voice_design_candidates -> voice_designs (design_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    api_keys,
    holds,
    ledger_entries,
    provider_resemble_usage,
    idempotency_keys,
    assets,
    asset_blobs,
    tasks,
    clone_recordings,
    voice_designs,
    voice_design_candidates,
);
