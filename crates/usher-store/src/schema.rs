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

diesel::joinable!(client_redirect_uris -> clients (client_id));
diesel::allow_tables_to_appear_in_same_query!(clients, client_redirect_uris, users, signing_keys);
