//! The key-encryption key (KEK): 32 random bytes, written as standard base64, that seal
//! the private parts of signing keys at rest with AES-256-GCM. It comes from `USHER_KEK`
//! or, for the embedded default, from the file `keys/kek`, which is created with mode 0600
//! by `usher serve` on an empty database. Its `Debug` output never shows the key.
//!
//! While a KEK change rolls through a cluster, a [`Kek`] can carry the previous key too
//! ([`Kek::with_previous`]): it then opens values sealed under either, and seals under
//! the current one only.

use std::fmt;
use std::io::Write as _;
use std::path::Path;

use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};

use crate::b64;
use crate::error::KeyError;

const KEK_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const SEALED_PREFIX: &str = "v1.";
const FINGERPRINT_LABEL: &[u8] = b"usher kek id v1";
const KEK_FORMAT_HINT: &str =
    "it must be 32 random bytes in standard base64 (e.g. `openssl rand -base64 32`)";

/// A 32-byte key-encryption key, and optionally the previous one (accepted for opening
/// only). `Debug` prints `Kek(<redacted>)`.
#[derive(Clone)]
pub struct Kek {
    bytes: [u8; KEK_LEN],
    previous: Option<[u8; KEK_LEN]>,
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

impl Kek {
    /// A fresh KEK from OpenSSL's CSPRNG.
    pub fn generate() -> Result<Kek, KeyError> {
        let mut bytes = [0u8; KEK_LEN];
        openssl::rand::rand_bytes(&mut bytes)
            .map_err(|e| KeyError::openssl("generating a key-encryption key", &e))?;
        Ok(Kek {
            bytes,
            previous: None,
        })
    }

    /// This KEK, also opening values sealed under `previous` (which it never seals with).
    pub fn with_previous(mut self, previous: &Kek) -> Kek {
        self.previous = Some(previous.bytes);
        self
    }

    /// This KEK without any previous one: to check what the current key alone opens.
    pub fn current_only(&self) -> Kek {
        Kek {
            bytes: self.bytes,
            previous: None,
        }
    }

    /// The previous KEK this one accepts, if any.
    pub fn previous(&self) -> Option<Kek> {
        self.previous.map(|bytes| Kek {
            bytes,
            previous: None,
        })
    }

    /// Reads the KEK in `path`; `None` if there is no such file (an error if the file
    /// does not hold a valid KEK). Never creates anything.
    pub fn read_file(path: &Path) -> Result<Option<Kek>, KeyError> {
        read_kek_file(path)
    }

    /// Parses standard base64 (surrounding whitespace ignored) that decodes to exactly
    /// 32 bytes.
    pub fn from_base64(s: &str) -> Result<Kek, KeyError> {
        let decoded = b64::std_decode(s.trim())
            .ok_or_else(|| KeyError::BadKek(format!("it is not base64: {KEK_FORMAT_HINT}")))?;
        let bytes: [u8; KEK_LEN] = decoded.as_slice().try_into().map_err(|_| {
            KeyError::BadKek(format!(
                "it decodes to {} bytes, not 32: {KEK_FORMAT_HINT}",
                decoded.len()
            ))
        })?;
        Ok(Kek {
            bytes,
            previous: None,
        })
    }

    /// The KEK as standard base64 with padding (44 characters).
    pub fn to_base64(&self) -> String {
        b64::std_encode(&self.bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; KEK_LEN] {
        &self.bytes
    }

    /// A key for one purpose, derived from this KEK as HMAC-SHA-256(KEK, `label`), as a
    /// `Kek` so that it seals with the same AES-256-GCM format. Different labels give
    /// independent keys; the KEK itself is never used for anything but sealing signing
    /// keys.
    pub(crate) fn derive(&self, label: &[u8]) -> Kek {
        Kek {
            bytes: crate::hmac::hmac_sha256(&self.bytes, label),
            previous: None,
        }
    }

    /// [`Kek::derive`] of this KEK and, if it carries one, of the previous KEK too: a
    /// sub-key for values stored in the database, which must keep opening while a KEK
    /// change rolls through (until `usher kek rotate` has re-sealed them).
    pub(crate) fn derive_with_previous(&self, label: &[u8]) -> Kek {
        Kek {
            bytes: crate::hmac::hmac_sha256(&self.bytes, label),
            previous: self
                .previous
                .map(|previous| crate::hmac::hmac_sha256(&previous, label)),
        }
    }

    /// Reads the KEK from `path` if the file exists (an error if it does not hold a valid
    /// KEK), or else creates it, and its parent directory, with mode 0600 and a fresh KEK
    /// followed by a newline. Returns the KEK and whether the file was created.
    ///
    /// Creation is atomic: the key is written to a temporary file that is then linked into
    /// place without replacing anything, so two processes starting at once end up with
    /// the same KEK and nobody ever reads a half-written file.
    pub fn load_or_create_file(path: &Path) -> Result<(Kek, bool), KeyError> {
        match read_kek_file(path)? {
            Some(kek) => Ok((kek, false)),
            None => create_kek_file(path),
        }
    }

    /// Writes this KEK to `path` (mode 0600, followed by a newline) unless a file is
    /// already there; whether it wrote it. For `usher serve`'s first start, which
    /// generates the KEK in memory and writes it only once the database is its own.
    pub fn write_new_file(&self, path: &Path) -> Result<bool, KeyError> {
        write_new_kek_file(&self.current_only(), path)
    }

    /// A public name for this KEK (its current key): the first 16 bytes of
    /// HMAC-SHA-256(KEK, "usher kek id v1"), base64url without padding (22 characters).
    /// Not secret: it is logged at start, printed by `usher kek rotate` and stored as
    /// the target of a rolling KEK change, so that two KEKs can be told apart.
    pub fn fingerprint(&self) -> String {
        let mac = crate::hmac::hmac_sha256(&self.bytes, FINGERPRINT_LABEL);
        b64::url_encode(&mac[..16])
    }

    /// Seals `plaintext` with AES-256-GCM under this KEK and a fresh random 96-bit nonce,
    /// binding it to `aad` (which must be presented again to decrypt). The output is
    /// `v1.` followed by base64url without padding of nonce ‖ ciphertext ‖ 16-byte tag.
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        openssl::rand::rand_bytes(&mut nonce)
            .map_err(|e| KeyError::openssl("generating a nonce", &e))?;
        let mut tag = [0u8; TAG_LEN];
        let ciphertext = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.bytes,
            Some(&nonce),
            aad,
            plaintext,
            &mut tag,
        )
        .map_err(|e| KeyError::openssl("AES-256-GCM encryption", &e))?;

        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len() + TAG_LEN);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed.extend_from_slice(&tag);
        Ok(format!("{SEALED_PREFIX}{}", b64::url_encode(&sealed)))
    }

    /// Opens a value sealed by [`Kek::encrypt`] under this KEK or, if it carries one, the
    /// previous KEK. Any alteration, another KEK or another `aad` gives
    /// [`KeyError::Unseal`].
    pub fn decrypt(&self, sealed: &str, aad: &[u8]) -> Result<Vec<u8>, KeyError> {
        match open_with(&self.bytes, sealed, aad) {
            Err(KeyError::Unseal) => match &self.previous {
                Some(previous) => open_with(previous, sealed, aad),
                None => Err(KeyError::Unseal),
            },
            done => done,
        }
    }
}

/// Opens a value sealed by [`Kek::encrypt`] with one 32-byte key.
fn open_with(key: &[u8; KEK_LEN], sealed: &str, aad: &[u8]) -> Result<Vec<u8>, KeyError> {
    let body = sealed.strip_prefix(SEALED_PREFIX).ok_or(KeyError::Unseal)?;
    let raw = b64::url_decode(body).ok_or(KeyError::Unseal)?;
    if raw.len() < NONCE_LEN + TAG_LEN {
        return Err(KeyError::Unseal);
    }
    let (nonce, rest) = raw.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    decrypt_aead(
        Cipher::aes_256_gcm(),
        key,
        Some(nonce),
        aad,
        ciphertext,
        tag,
    )
    .map_err(|_| KeyError::Unseal)
}

fn io_error(action: &str, path: &Path, err: &std::io::Error) -> KeyError {
    KeyError::Io(format!("cannot {action} {}: {err}", path.display()))
}

/// The KEK in `path`, `None` if there is no such file.
fn read_kek_file(path: &Path) -> Result<Option<Kek>, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Kek::from_base64(&text).map(Some).map_err(|err| match err {
            KeyError::BadKek(why) => KeyError::BadKek(format!(
                "the file {} does not hold a valid key: {why}",
                path.display()
            )),
            other => other,
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(io_error("read the key-encryption key file", path, &err)),
    }
}

fn create_kek_file(path: &Path) -> Result<(Kek, bool), KeyError> {
    let kek = Kek::generate()?;
    match write_new_kek_file(&kek, path)? {
        true => Ok((kek, true)),
        false => match read_kek_file(path)? {
            Some(existing) => Ok((existing, false)),
            None => Err(KeyError::Io(format!(
                "the key-encryption key file {} vanished while it was being created",
                path.display()
            ))),
        },
    }
}

/// Writes `kek` to `path` (mode 0600, parent created 0700) unless a file is there;
/// whether it wrote it. The key goes to a temporary file that is then linked into place
/// without replacing anything, so nobody ever reads a half-written file.
fn write_new_kek_file(kek: &Kek, path: &Path) -> Result<bool, KeyError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    create_private_dir(&parent)?;

    let mut suffix = [0u8; 8];
    openssl::rand::rand_bytes(&mut suffix)
        .map_err(|e| KeyError::openssl("naming a temporary file", &e))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kek".to_owned());
    let tmp = parent.join(format!(".{file_name}.tmp-{}", b64::url_encode(&suffix)));

    let write = || -> std::io::Result<()> {
        let mut file = private_file_options().open(&tmp)?;
        file.write_all(format!("{}\n", kek.to_base64()).as_bytes())?;
        file.sync_all()
    };
    if let Err(err) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error("write the key-encryption key file", &tmp, &err));
    }

    // `hard_link` refuses to replace an existing file: whoever links first wins.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(io_error("create the key-encryption key file", path, &err)),
    }
}

#[cfg(unix)]
fn private_file_options() -> std::fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true).mode(0o600);
    options
}

#[cfg(not(unix))]
fn private_file_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    options
}

fn create_private_dir(dir: &Path) -> Result<(), KeyError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|err| io_error("create the directory", dir, &err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_name_the_current_key_only() {
        let kek = Kek::generate().unwrap();
        let other = Kek::generate().unwrap();
        assert_eq!(kek.fingerprint().len(), 22);
        assert_ne!(kek.fingerprint(), other.fingerprint());
        assert_eq!(
            kek.clone().with_previous(&other).fingerprint(),
            kek.fingerprint()
        );
        let known = Kek::from_base64(&b64::std_encode(&[7u8; 32])).unwrap();
        assert_eq!(
            known.fingerprint(),
            b64::url_encode(&crate::hmac::hmac_sha256(&[7u8; 32], b"usher kek id v1")[..16])
        );
    }

    #[test]
    fn write_new_file_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/kek");
        let first = Kek::generate().unwrap();
        assert!(first.write_new_file(&path).unwrap());
        assert!(!Kek::generate().unwrap().write_new_file(&path).unwrap());
        assert_eq!(
            Kek::read_file(&path).unwrap().unwrap().to_base64(),
            first.to_base64()
        );
    }

    #[test]
    fn sealed_values_round_trip() {
        let kek = Kek::generate().unwrap();
        let sealed = kek.encrypt(b"the private key", b"kid-1").unwrap();
        assert!(sealed.starts_with("v1."));
        assert_eq!(kek.decrypt(&sealed, b"kid-1").unwrap(), b"the private key");
        // Empty plaintexts work too.
        let empty = kek.encrypt(b"", b"").unwrap();
        assert_eq!(kek.decrypt(&empty, b"").unwrap(), b"");
    }

    #[test]
    fn sealing_twice_gives_different_outputs() {
        let kek = Kek::generate().unwrap();
        assert_ne!(
            kek.encrypt(b"same", b"aad").unwrap(),
            kek.encrypt(b"same", b"aad").unwrap()
        );
    }

    #[test]
    fn decryption_fails_with_a_wrong_kek_a_wrong_aad_or_any_flipped_byte() {
        let kek = Kek::generate().unwrap();
        let other = Kek::generate().unwrap();
        let sealed = kek.encrypt(b"the private key", b"kid-1").unwrap();

        assert_eq!(other.decrypt(&sealed, b"kid-1"), Err(KeyError::Unseal));
        assert_eq!(kek.decrypt(&sealed, b"kid-2"), Err(KeyError::Unseal));

        let raw = b64::url_decode(&sealed[3..]).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            let tampered = format!("v1.{}", b64::url_encode(&bad));
            assert_eq!(
                kek.decrypt(&tampered, b"kid-1"),
                Err(KeyError::Unseal),
                "{i}"
            );
        }
        assert_eq!(
            kek.decrypt(&sealed[..sealed.len() - 2], b"kid-1"),
            Err(KeyError::Unseal)
        );
        assert_eq!(kek.decrypt("v1.", b"kid-1"), Err(KeyError::Unseal));
        assert_eq!(kek.decrypt("v2.AAAA", b"kid-1"), Err(KeyError::Unseal));
        assert_eq!(kek.decrypt(&sealed[3..], b"kid-1"), Err(KeyError::Unseal));
    }

    #[test]
    fn kek_base64_round_trips_and_tolerates_surrounding_whitespace() {
        let kek = Kek::generate().unwrap();
        let text = kek.to_base64();
        assert_eq!(text.len(), 44);
        let again = Kek::from_base64(&format!("  {text}\n")).unwrap();
        assert_eq!(again.as_bytes(), kek.as_bytes());
    }

    #[test]
    fn kek_from_base64_refuses_wrong_lengths_and_non_base64() {
        let short = b64::std_encode(&[7u8; 31]);
        let long = b64::std_encode(&[7u8; 33]);
        for bad in [
            short.as_str(),
            long.as_str(),
            "",
            "not base64 at all!",
            "Zm9v",
        ] {
            match Kek::from_base64(bad) {
                Err(KeyError::BadKek(msg)) => {
                    assert!(
                        msg.contains(
                            "32 random bytes in standard base64 (e.g. `openssl rand -base64 32`)"
                        ),
                        "{msg}"
                    );
                }
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        // URL-safe alphabet is not standard base64.
        let url = b64::url_encode(&[0xfb; 32]);
        assert!(Kek::from_base64(&url).is_err());
    }

    #[test]
    fn a_kek_with_a_previous_one_opens_both_and_seals_under_the_current_only() {
        let old = Kek::generate().unwrap();
        let new = Kek::generate().unwrap();
        let rolling = new.clone().with_previous(&old);
        let under_old = old.encrypt(b"key", b"kid").unwrap();
        let under_rolling = rolling.encrypt(b"key", b"kid").unwrap();
        assert_eq!(rolling.decrypt(&under_old, b"kid").unwrap(), b"key");
        assert_eq!(new.decrypt(&under_rolling, b"kid").unwrap(), b"key");
        assert_eq!(old.decrypt(&under_rolling, b"kid"), Err(KeyError::Unseal));
        assert_eq!(
            rolling.current_only().decrypt(&under_old, b"kid"),
            Err(KeyError::Unseal)
        );
        assert_eq!(rolling.previous().unwrap().as_bytes(), old.as_bytes());
        assert!(!format!("{rolling:?}").contains(&old.to_base64()));
    }

    #[test]
    fn kek_debug_output_is_redacted() {
        let kek = Kek::generate().unwrap();
        let shown = format!("{kek:?}");
        assert_eq!(shown, "Kek(<redacted>)");
        assert!(!shown.contains(&kek.to_base64()));
    }

    #[cfg(unix)]
    #[test]
    fn the_kek_file_is_created_with_mode_0600_and_then_reused() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("kek");

        let (first, created) = Kek::load_or_create_file(&path).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", first.to_base64()));

        let (second, created_again) = Kek::load_or_create_file(&path).unwrap();
        assert!(!created_again);
        assert_eq!(second.as_bytes(), first.as_bytes());

        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("kek")]);
    }

    #[test]
    fn a_kek_file_with_bad_contents_is_an_error_and_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        std::fs::write(&path, "too short\n").unwrap();
        match Kek::load_or_create_file(&path) {
            Err(KeyError::BadKek(msg)) => assert!(msg.contains("32 random bytes"), "{msg}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "too short\n");
    }
}
