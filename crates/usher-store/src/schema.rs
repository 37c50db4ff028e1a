//! The diesel table definitions, matching `migrations/sqlite` and `migrations/postgres`.
//!
//! Only types that diesel's `MultiConnection` supports on both backends appear here:
//! `Text`, `BigInt` (unix seconds), `Integer` and `Bool`.

diesel::table! {
    clients (id) {
        id -> Text,
        name -> Text,
        secret_hash -> Nullable<Text>,
        auth_method -> Text,
        grant_types -> Text,
        scopes -> Text,
        audiences -> Text,
        pkce_required -> Bool,
        first_party -> Bool,
        created_at -> BigInt,
        require_mfa -> Bool,
        backchannel_logout_uri -> Nullable<Text>,
        backchannel_logout_session_required -> Bool,
        allowed_origins -> Text,
        id_token_signed_response_alg -> Nullable<Text>,
        metadata_document -> Bool,
        dynamically_registered -> Bool,
        registration_token_hash -> Nullable<Text>,
        last_used_at -> Nullable<BigInt>,
        allowed_groups -> Text,
    }
}

diesel::table! {
    initial_access_tokens (id) {
        id -> Text,
        token_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        max_uses -> Integer,
        uses -> Integer,
    }
}

diesel::table! {
    client_redirect_uris (client_id, kind, position) {
        client_id -> Text,
        kind -> Text,
        position -> Integer,
        uri -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        password_hash -> Text,
        name -> Nullable<Text>,
        email -> Nullable<Text>,
        email_verified -> Bool,
        created_at -> BigInt,
        preferred_username -> Nullable<Text>,
        phone_number -> Nullable<Text>,
        phone_number_verified -> Bool,
        address -> Nullable<Text>,
        disabled_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        state -> Text,
        alg -> Text,
        bits -> Integer,
        public_jwk -> Text,
        private_key_encrypted -> Text,
        created_at -> BigInt,
        activate_after -> Nullable<BigInt>,
        activated_at -> Nullable<BigInt>,
        retire_after -> Nullable<BigInt>,
        retired_at -> Nullable<BigInt>,
        remove_after -> Nullable<BigInt>,
        removed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> Text,
        auth_time -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        lineage_hash -> Nullable<Text>,
        amr -> Text,
        client_address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    interactions (id) {
        id -> Text,
        csrf_hash -> Text,
        step -> Text,
        request -> Text,
        user_id -> Nullable<Text>,
        auth_time -> Nullable<BigInt>,
        created_at -> BigInt,
        expires_at -> BigInt,
        browser_hash -> Text,
        first_amr -> Nullable<Text>,
    }
}

diesel::table! {
    consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scopes -> Text,
        updated_at -> BigInt,
        resources -> Text,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        redirect_uri_sent -> Bool,
        user_id -> Text,
        session_id_hash -> Text,
        scopes -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        auth_time -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        consumed_at -> Nullable<BigInt>,
        replayed_at -> Nullable<BigInt>,
        amr -> Text,
        resources -> Text,
    }
}

diesel::table! {
    resources (uri) {
        uri -> Text,
        name -> Nullable<Text>,
        scopes -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    code_tokens (code_hash, jti) {
        code_hash -> Text,
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    revoked_tokens (jti) {
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    spent_nonces (nonce_hash) {
        nonce_hash -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    login_failures (key) {
        key -> Text,
        count -> Integer,
        window_start -> BigInt,
        locked_until -> Nullable<BigInt>,
    }
}

diesel::joinable!(client_redirect_uris -> clients (client_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(interactions -> users (user_id));
diesel::joinable!(consents -> users (user_id));
diesel::joinable!(consents -> clients (client_id));
diesel::joinable!(authorization_codes -> users (user_id));
diesel::joinable!(authorization_codes -> clients (client_id));
diesel::joinable!(code_tokens -> authorization_codes (code_hash));
diesel::allow_tables_to_appear_in_same_query!(
    clients,
    client_redirect_uris,
    users,
    signing_keys,
    sessions,
    interactions,
    consents,
    authorization_codes,
    code_tokens,
    revoked_tokens,
    login_failures,
    spent_nonces,
    session_clients,
    backchannel_logouts,
);

diesel::table! {
    known_browsers (user_id, browser_hash) {
        user_id -> Text,
        browser_hash -> Text,
        first_seen -> BigInt,
        last_seen -> BigInt,
    }
}

diesel::table! {
    browser_history (user_id) {
        user_id -> Text,
        since -> BigInt,
    }
}

diesel::table! {
    kek_markers (name) {
        name -> Text,
        value -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    sealed_values (name) {
        name -> Text,
        sealed -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    totp_factors (user_id) {
        user_id -> Text,
        sealed_secret -> Text,
        confirmed -> Bool,
        last_used_step -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    recovery_codes (user_id, code_hash) {
        user_id -> Text,
        code_hash -> Text,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    passkeys (id) {
        id -> Text,
        user_id -> Text,
        credential_id -> Text,
        name -> Text,
        credential -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        suspect -> Bool,
    }
}

diesel::table! {
    webauthn_ceremonies (id_hash) {
        id_hash -> Text,
        kind -> Text,
        user_id -> Nullable<Text>,
        state -> Text,
        browser_hash -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    form_tokens (token_hash) {
        token_hash -> Text,
        session_hash -> Text,
        purpose -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    device_grants (device_code_hash) {
        device_code_hash -> Text,
        user_code_hash -> Text,
        client_id -> Text,
        scopes -> Text,
        resources -> Text,
        status -> Text,
        user_id -> Nullable<Text>,
        lineage_hash -> Nullable<Text>,
        auth_time -> Nullable<BigInt>,
        amr -> Nullable<Text>,
        poll_interval -> BigInt,
        last_poll_at -> Nullable<BigInt>,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    invitations (token_hash) {
        token_hash -> Text,
        email -> Text,
        name -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    mail_tokens (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        purpose -> Text,
        email -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    session_clients (lineage_hash, client_id) {
        lineage_hash -> Text,
        client_id -> Text,
        user_id -> Text,
        sid -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    backchannel_logouts (id) {
        id -> Text,
        client_id -> Text,
        subject -> Text,
        sid -> Nullable<Text>,
        attempts -> Integer,
        due_at -> BigInt,
        claim -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    groups (name) {
        name -> Text,
        description -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    group_members (group_name, user_id) {
        group_name -> Text,
        user_id -> Text,
        created_at -> BigInt,
    }
}

diesel::joinable!(group_members -> groups (group_name));
diesel::joinable!(group_members -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(groups, group_members, users);

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        at -> BigInt,
        kind -> Text,
        actor -> Text,
        person_id -> Nullable<Text>,
        client_id -> Nullable<Text>,
        target -> Nullable<Text>,
        address -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    upstreams (id) {
        id -> Text,
        name -> Text,
        issuer -> Text,
        client_id -> Text,
        client_secret_sealed -> Nullable<Text>,
        scope -> Text,
        claim_mapping -> Text,
        endpoints -> Nullable<Text>,
        enabled -> Bool,
        trusted_for_mfa -> Bool,
        create_people -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    upstream_identities (upstream_id, subject) {
        upstream_id -> Text,
        subject -> Text,
        user_id -> Text,
        created_at -> BigInt,
    }
}
