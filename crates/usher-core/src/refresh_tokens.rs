//! Refresh tokens themselves: how they are made, recognised, sealed for the grace window,
//! and how a redeemed code starts its family. The grant that rotates them is
//! `grants/refresh_token.rs`.
//!
//! A refresh token is `<family id>.<secret>`. The secret is 43 characters of random
//! (256 bits) followed by a 22-character tag, a MAC over the family id and the random
//! part under a sub-key of the KEK. The tag lets Usher tell a token it minted for a
//! family from a string someone made up around a known family id: only a genuine
//! earlier token of the family counts as reuse and revokes it; anything else is just
//! `invalid_grant`. Stores keep only `SHA-256(secret)`.
//!
//! For the optional grace window, the child token is kept sealed (AES-256-GCM) under a
//! key derived from the *parent's* secret, which only its holder has and the store never
//! sees: a leaked store yields no usable token, and a retried request with the parent
//! gets back the very same child (docs/design/refresh-families.md).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};
use usher_domain::scope::{OFFLINE_ACCESS, OPENID};
use usher_domain::{AuthorizationCode, Client, FamilyId, GrantType, NewFamily, ScopeSet, UnixTime};
use usher_keys::SecretHasher;

use crate::Core;
use crate::failure::Failure;

/// Characters of the random part of a secret (32 bytes, base64url).
const RANDOM_LEN: usize = 43;
/// Characters of the tag.
const TAG_LEN: usize = 22;
const TAG_LABEL: &str = "usher refresh-token tag v1";
const SEAL_LABEL: &[u8] = b"usher refresh-token grace seal v1";

/// A refresh token as presented, split and with its tag checked.
pub struct PresentedRefresh {
    pub family: FamilyId,
    /// `SHA-256(secret)`, as stored.
    pub hash: String,
    pub secret: String,
}

fn tag(secrets: &SecretHasher, family: &FamilyId, random: &str) -> String {
    let mac = secrets.hash(&format!("{TAG_LABEL}\u{0}{family}\u{0}{random}"));
    let mac = mac.strip_prefix("hmac-sha256.").unwrap_or(&mac);
    mac.chars().take(TAG_LEN).collect()
}

/// Recognises a refresh token Usher minted: the format, and the tag. `None` for
/// anything else (which is then never treated as reuse).
pub fn recognise(secrets: &SecretHasher, token: &str) -> Option<PresentedRefresh> {
    let (family, secret) = token.split_once('.')?;
    let family = FamilyId::parse(family)?;
    if secret.len() != RANDOM_LEN + TAG_LEN || !secret.is_ascii() {
        return None;
    }
    let (random, presented_tag) = secret.split_at(RANDOM_LEN);
    let expected = tag(secrets, &family, random);
    if !(expected.len() == presented_tag.len()
        && openssl::memcmp::eq(expected.as_bytes(), presented_tag.as_bytes()))
    {
        return None;
    }
    Some(PresentedRefresh {
        hash: usher_keys::sha256_b64url(secret),
        secret: secret.to_owned(),
        family,
    })
}

/// A new token of `family`: (token, secret, hash of the secret).
pub fn mint(
    secrets: &SecretHasher,
    family: &FamilyId,
) -> Result<(String, String, String), Failure> {
    let random = usher_keys::random_token(32).map_err(|e| {
        tracing::error!(cause = %e, "no randomness");
        Failure::Internal
    })?;
    let secret = format!("{random}{}", tag(secrets, family, &random));
    let hash = usher_keys::sha256_b64url(&secret);
    Ok((format!("{family}.{secret}"), secret, hash))
}

/// The key that seals a child for the holder of `parent_secret`.
fn seal_key(parent_secret: &str) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let key = PKey::hmac(parent_secret.as_bytes())?;
    let mut signer = Signer::new(MessageDigest::sha256(), &key)?;
    signer.sign_oneshot_to_vec(SEAL_LABEL)
}

/// Seals `child` so that only the holder of `parent_secret` can open it.
pub fn seal(parent_secret: &str, family: &FamilyId, child: &str) -> Result<String, Failure> {
    let sealed = (|| {
        let key = seal_key(parent_secret)?;
        let mut nonce = [0u8; 12];
        openssl::rand::rand_bytes(&mut nonce)?;
        let mut tag = [0u8; 16];
        let ciphertext = encrypt_aead(
            Cipher::aes_256_gcm(),
            &key,
            Some(&nonce),
            family.as_str().as_bytes(),
            child.as_bytes(),
            &mut tag,
        )?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        out.extend_from_slice(&tag);
        Ok::<_, openssl::error::ErrorStack>(URL_SAFE_NO_PAD.encode(out))
    })();
    sealed.map_err(|e| {
        tracing::error!(cause = %e, "cannot seal a grace child");
        Failure::Internal
    })
}

/// Opens a child sealed by [`seal`].
pub fn open(parent_secret: &str, family: &FamilyId, sealed: &str) -> Option<String> {
    let raw = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if raw.len() < 12 + 16 {
        return None;
    }
    let (nonce, rest) = raw.split_at(12);
    let (ciphertext, tag) = rest.split_at(rest.len() - 16);
    let key = seal_key(parent_secret).ok()?;
    let plain = decrypt_aead(
        Cipher::aes_256_gcm(),
        &key,
        Some(nonce),
        family.as_str().as_bytes(),
        ciphertext,
        tag,
    )
    .ok()?;
    String::from_utf8(plain).ok()
}

/// Whether the code exchange issues a refresh token (OIDC Core §11): the client must be
/// registered for the refresh_token grant, and an OpenID request must have been granted
/// `offline_access` (which `/authorize` accepts only from such clients and puts on the
/// consent page). A plain OAuth 2.0 request (no `openid`) gets one whenever the client
/// has the grant.
pub fn issues_refresh_token(client: &Client, scopes: &ScopeSet) -> bool {
    client.allows_grant(GrantType::RefreshToken)
        && (scopes.contains(OFFLINE_ACCESS) || !scopes.contains(OPENID))
}

/// The id of the family a code starts: derived from the code's hash (128 bits of
/// it), so that a replayed code can revoke the family its first redemption started
/// (RFC 6749 §4.1.2) without storing a link.
pub fn family_of_code(code_hash: &str) -> Option<FamilyId> {
    let digest = usher_keys::sha256_b64url(&format!("usher refresh family v1\u{0}{code_hash}"));
    FamilyId::parse(&digest.chars().take(22).collect::<String>())
}

/// Starts a family for a redeemed code; returns its first refresh token.
pub async fn start_family(
    core: &Core,
    code: &AuthorizationCode,
    now: UnixTime,
) -> Result<String, Failure> {
    let id = family_of_code(&code.code_hash).ok_or(Failure::Internal)?;
    let (token, _, hash) = mint(&core.secrets, &id)?;
    let lifetimes = core.settings.refresh;
    let family = NewFamily {
        id,
        user_id: code.user_id.clone(),
        client_id: code.client_id.clone(),
        scopes: code.scopes.clone(),
        resources: crate::resources::still_granted(core, &code.resources, code.created_at).await?,
        auth_time: code.auth_time,
        amr: code.amr.clone(),
        lineage_hash: Some(code.lineage_hash.clone()),
        token_hash: hash,
        created_at: now,
        expires_at: now.plus(lifetimes.absolute_ttl),
        idle_expires_at: now.plus(lifetimes.idle_ttl),
    };
    core.stores
        .families
        .create(&family)
        .await
        .map_err(Failure::from)?;
    tracing::info!(family_id = %family.id, client_id = %family.client_id, "refresh-token family started");
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> SecretHasher {
        SecretHasher::from_kek(&usher_keys::Kek::generate().unwrap())
    }

    #[test]
    fn minted_tokens_are_recognised_and_forgeries_are_not() {
        let secrets = hasher();
        let family = FamilyId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let (token, secret, hash) = mint(&secrets, &family).unwrap();
        assert_eq!(secret.len(), 65);
        assert_eq!(token, format!("{family}.{secret}"));
        let p = recognise(&secrets, &token).expect("recognised");
        assert_eq!(p.family, family);
        assert_eq!(p.hash, hash);

        // Another KEK, a changed character, another family, garbage: not ours.
        assert!(recognise(&hasher(), &token).is_none());
        let mut bad = token.clone().into_bytes();
        let i = bad.len() - 30;
        bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
        assert!(recognise(&secrets, &String::from_utf8(bad).unwrap()).is_none());
        let other = FamilyId::parse("BBBBBBBBBBBBBBBBBBBBBB").unwrap();
        assert!(recognise(&secrets, &format!("{other}.{secret}")).is_none());
        for garbage in ["", ".", "abc", "a.b.c", &format!("{family}.short")] {
            assert!(recognise(&secrets, garbage).is_none(), "{garbage}");
        }
    }

    #[test]
    fn a_sealed_child_opens_only_with_its_parent_and_family() {
        let family = FamilyId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let sealed = seal("parent-secret", &family, "the-child").unwrap();
        assert!(!sealed.contains("the-child"));
        assert_eq!(
            open("parent-secret", &family, &sealed).as_deref(),
            Some("the-child")
        );
        assert_eq!(open("another-secret", &family, &sealed), None);
        let other = FamilyId::parse("BBBBBBBBBBBBBBBBBBBBBB").unwrap();
        assert_eq!(open("parent-secret", &other, &sealed), None);
        assert_eq!(open("parent-secret", &family, "garbage"), None);
    }
}
