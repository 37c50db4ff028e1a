//! HMAC-SHA-256 and HMAC-SHA-1 (RFC 2104) over OpenSSL's SHA-256 and SHA-1. They are
//! written out here, rather than taken from OpenSSL's `EVP_PKEY` HMAC, because that
//! interface can fail at run time and the callers (client-secret hashing, sub-key
//! derivation, TOTP codes) have no sensible way to fail. HMAC-SHA-1 is used for TOTP only
//! (RFC 6238 with RFC 4226's HMAC-SHA-1, what every authenticator app computes); HMAC
//! does not rely on SHA-1's collision resistance.

use openssl::sha::{Sha1, Sha256};

const BLOCK: usize = 64;

/// HMAC-SHA-256 of `message` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        let digest = openssl::sha::sha256(key);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }

    let mut inner = Sha256::new();
    inner.update(&block.map(|b| b ^ 0x36));
    inner.update(message);
    let inner_digest = inner.finish();

    let mut outer = Sha256::new();
    outer.update(&block.map(|b| b ^ 0x5c));
    outer.update(&inner_digest);
    block.fill(0);
    outer.finish()
}

/// HMAC-SHA-1 of `message` under `key` (for TOTP, RFC 4226 §5.2).
pub(crate) fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        let digest = openssl::sha::sha1(key);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }

    let mut inner = Sha1::new();
    inner.update(&block.map(|b| b ^ 0x36));
    inner.update(message);
    let inner_digest = inner.finish();

    let mut outer = Sha1::new();
    outer.update(&block.map(|b| b ^ 0x5c));
    outer.update(&inner_digest);
    block.fill(0);
    outer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::sign::Signer;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_the_rfc_4231_test_vectors() {
        // Test case 1.
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block size.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn hmac_agrees_with_openssl_for_many_key_lengths() {
        // OpenSSL refuses an empty HMAC key, so lengths start at 1 here.
        for len in [1usize, 31, 32, 63, 64, 65, 200] {
            let key: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let pkey = PKey::hmac(&key).unwrap();
            let mut signer = Signer::new(MessageDigest::sha256(), &pkey).unwrap();
            signer.update(b"usher").unwrap();
            assert_eq!(
                signer.sign_to_vec().unwrap(),
                hmac_sha256(&key, b"usher").to_vec()
            );
        }
    }

    #[test]
    fn hmac_sha1_matches_the_rfc_2202_test_vectors() {
        assert_eq!(
            hex(&hmac_sha1(&[0x0b; 20], b"Hi There")),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
        assert_eq!(
            hex(&hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex(&hmac_sha1(
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        );
    }

    #[test]
    fn hmac_sha1_agrees_with_openssl_for_many_key_lengths() {
        for len in [1usize, 20, 63, 64, 65, 200] {
            let key: Vec<u8> = (0..len).map(|i| (i * 5 + 1) as u8).collect();
            let pkey = PKey::hmac(&key).unwrap();
            let mut signer = Signer::new(MessageDigest::sha1(), &pkey).unwrap();
            signer.update(b"usher").unwrap();
            assert_eq!(
                signer.sign_to_vec().unwrap(),
                hmac_sha1(&key, b"usher").to_vec()
            );
        }
    }
}
