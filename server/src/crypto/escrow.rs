//! Break-glass cryptography: an escrow's X25519 key pair, its private key split k-of-n with
//! Shamir over GF(2^8) in the Vault / `shamir-secret-sharing` layout (the y-bytes, then the
//! x-byte; the AES field x⁸+x⁴+x³+x+1), DEKs sealed to the escrow with HPKE (RFC 9180:
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305), and a share encrypted with
//! `age` to a custodian's own `age1…` key.

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use rand::seq::SliceRandom;
use vsss_rs::{Gf256, IdentifierGf256};
use zeroize::Zeroizing;

/// Why a break-glass operation failed. Never carries key or share material.
#[derive(Debug, thiserror::Error)]
pub enum EscrowError {
    #[error("threshold and custodians must satisfy 2 ≤ k ≤ n ≤ 16")]
    BadThreshold,
    #[error(
        "the shares do not rebuild this escrow's key (too few, from another escrow, or altered)"
    )]
    WrongShares,
    #[error(
        "a sealed key could not be opened: wrong escrow key, or the data was altered or moved"
    )]
    Open,
    #[error("sealing failed")]
    Seal,
    #[error("not an age recipient (age1…)")]
    BadRecipient,
}

/// The HPKE `info`: binds every seal to this purpose.
const INFO: &[u8] = b"keyward/v1/escrow";
/// An encapsulated X25519 key is 32 bytes, then the ciphertext.
const ENCAPPED_LEN: usize = 32;

/// An escrow's key pair. The private key lives only in memory (ceremony and release).
pub struct EscrowKey {
    private: <X25519HkdfSha256 as Kem>::PrivateKey,
    public: [u8; 32],
}

impl EscrowKey {
    /// A new random key pair.
    pub fn generate() -> Self {
        let (private, public) = X25519HkdfSha256::gen_keypair(&mut rand::rngs::OsRng);
        Self {
            public: public.to_bytes().into(),
            private,
        }
    }

    /// The key rebuilt from the private key's 32 bytes.
    pub fn from_private(bytes: &[u8]) -> Result<Self, EscrowError> {
        let private = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(bytes)
            .map_err(|_| EscrowError::WrongShares)?;
        let public = X25519HkdfSha256::sk_to_pk(&private);
        Ok(Self {
            public: public.to_bytes().into(),
            private,
        })
    }

    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// The private key's bytes (a release key handed to its requester once).
    pub fn private_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.private.to_bytes().to_vec())
    }

    /// Splits the private key into `n` shares, any `k` of which rebuild it.
    pub fn split(&self, k: u8, n: u8) -> Result<Vec<Zeroizing<Vec<u8>>>, EscrowError> {
        let secret = Zeroizing::new(self.private.to_bytes().to_vec());
        split(&secret, k, n)
    }

    /// Opens a DEK sealed with [`seal_to`] for this key's public key.
    pub fn open(&self, aad: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, EscrowError> {
        if sealed.len() <= ENCAPPED_LEN {
            return Err(EscrowError::Open);
        }
        let (encapped, ciphertext) = sealed.split_at(ENCAPPED_LEN);
        let encapped = <X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(encapped)
            .map_err(|_| EscrowError::Open)?;
        hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
            &OpModeR::Base,
            &self.private,
            &encapped,
            INFO,
            ciphertext,
            aad.as_bytes(),
        )
        .map(Zeroizing::new)
        .map_err(|_| EscrowError::Open)
    }
}

/// Seals `dek` to an escrow's public key, bound to `aad` (its place, like the KEK wrap).
pub fn seal_to(public: &[u8; 32], aad: &str, dek: &[u8]) -> Result<Vec<u8>, EscrowError> {
    let public =
        <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(public).map_err(|_| EscrowError::Seal)?;
    let (encapped, ciphertext) =
        hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256, _>(
            &OpModeS::Base,
            &public,
            INFO,
            dek,
            aad.as_bytes(),
            &mut rand::rngs::OsRng,
        )
        .map_err(|_| EscrowError::Seal)?;
    let mut out = encapped.to_bytes().to_vec();
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Shamir split of `secret` in the Vault layout: each share is the y-bytes then its x-byte,
/// the x values distinct, random and non-zero (as Vault picks them).
pub fn split(secret: &[u8], k: u8, n: u8) -> Result<Vec<Zeroizing<Vec<u8>>>, EscrowError> {
    if !(2 <= k && k <= n && n <= 16) {
        return Err(EscrowError::BadThreshold);
    }
    let mut xs: Vec<u8> = (1..=255).collect();
    xs.shuffle(&mut rand::rngs::OsRng);
    let ids = xs[..usize::from(n)]
        .iter()
        .map(|&x| IdentifierGf256(Gf256(x)));
    let rng = rand_core_010::UnwrapErr(getrandom_04::SysRng);
    let shares = Gf256::split_bytes_with_participant_ids_iter(
        usize::from(k),
        usize::from(n),
        secret,
        rng,
        ids,
    )
    .map_err(|_| EscrowError::BadThreshold)?;
    // vsss-rs puts the x-byte first; Vault and shamir-secret-sharing put it last.
    Ok(shares
        .into_iter()
        .map(|mut share| {
            share.rotate_left(1);
            Zeroizing::new(share)
        })
        .collect())
}

/// Rebuilds the secret from shares in the Vault layout. With fewer than the threshold it
/// returns some other value: callers check the result against the escrow's public key.
pub fn combine(shares: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, EscrowError> {
    let shares: Vec<Vec<u8>> = shares
        .iter()
        .map(|share| {
            let mut share = share.to_vec();
            share.rotate_right(1);
            share
        })
        .collect();
    let secret = Gf256::combine_bytes(&shares).map_err(|_| EscrowError::WrongShares);
    for mut share in shares {
        zeroize::Zeroize::zeroize(&mut share);
    }
    secret.map(Zeroizing::new)
}

/// The escrow key rebuilt from shares, proven by its public key.
pub fn rebuild(shares: &[&[u8]], public: &[u8; 32]) -> Result<EscrowKey, EscrowError> {
    let secret = combine(shares)?;
    let key = EscrowKey::from_private(&secret)?;
    if &key.public() == public {
        Ok(key)
    } else {
        Err(EscrowError::WrongShares)
    }
}

/// `text` encrypted with age to `recipient` (an `age1…` X25519 key), ASCII-armored.
pub fn age_armored(recipient: &str, text: &[u8]) -> Result<String, EscrowError> {
    use std::io::Write;
    let recipient: age::x25519::Recipient = recipient
        .trim()
        .parse()
        .map_err(|_| EscrowError::BadRecipient)?;
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as _))
        .map_err(|_| EscrowError::Seal)?;
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|_| EscrowError::Seal)?;
    let mut writer = encryptor
        .wrap_output(armor)
        .map_err(|_| EscrowError::Seal)?;
    writer.write_all(text).map_err(|_| EscrowError::Seal)?;
    writer
        .finish()
        .and_then(|armor| armor.finish())
        .map_err(|_| EscrowError::Seal)?;
    String::from_utf8(out).map_err(|_| EscrowError::Seal)
}

/// Whether `raw` is an age X25519 recipient.
pub fn is_age_recipient(raw: &str) -> bool {
    raw.trim().parse::<age::x25519::Recipient>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_k_shares_rebuild_the_key_and_k_minus_one_do_not() {
        let key = EscrowKey::generate();
        let shares = key.split(3, 5).unwrap_or_default();
        assert_eq!(shares.len(), 5);
        assert!(shares.iter().all(|s| s.len() == 33));
        let xs: std::collections::BTreeSet<u8> = shares.iter().map(|s| s[32]).collect();
        assert_eq!(xs.len(), 5, "distinct x-bytes, last");
        for pick in [[0, 1, 2], [4, 2, 0], [1, 3, 4]] {
            let chosen: Vec<&[u8]> = pick.iter().map(|&i| shares[i].as_slice()).collect();
            assert!(rebuild(&chosen, &key.public()).is_ok(), "{pick:?}");
        }
        let two: Vec<&[u8]> = shares[..2].iter().map(|s| s.as_slice()).collect();
        assert!(matches!(
            rebuild(&two, &key.public()),
            Err(EscrowError::WrongShares)
        ));
        let mut altered = shares[0].to_vec();
        altered[5] ^= 1;
        let with_altered = [
            altered.as_slice(),
            shares[1].as_slice(),
            shares[2].as_slice(),
        ];
        assert!(rebuild(&with_altered, &key.public()).is_err());
        assert!(matches!(key.split(1, 3), Err(EscrowError::BadThreshold)));
        assert!(matches!(key.split(4, 3), Err(EscrowError::BadThreshold)));
        assert!(matches!(key.split(2, 17), Err(EscrowError::BadThreshold)));
        assert!(key.split(16, 16).is_ok());
    }

    #[test]
    fn a_node_made_vault_layout_vector_combines_here() {
        // Split by the npm package shamir-secret-sharing: any three give 00 01 … 1f.
        let vector = [
            "3af68335ad9dd43b43a6432e14b9fd81995cb23e5594587413f50eca888c7799b9",
            "0c49fb20450c1a0a90082cbf33fa3b7b1903f6d5bcddd9e412689b212ccdbbad7a",
            "4adb03b6a595c89ae724b63705029301a8da99208a5b986399dffe7741603d2d57",
        ];
        let shares: Vec<Vec<u8>> = vector
            .iter()
            .map(|h| hex::decode(h).unwrap_or_default())
            .collect();
        for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0]] {
            let chosen: Vec<&[u8]> = order.iter().map(|&i| shares[i].as_slice()).collect();
            let secret = combine(&chosen).map(|s| s.to_vec()).unwrap_or_default();
            assert_eq!(secret, (0u8..32).collect::<Vec<_>>(), "{order:?}");
        }
    }

    #[test]
    fn a_sealed_dek_opens_with_the_escrow_key_only_and_at_its_place_only() {
        let key = EscrowKey::generate();
        let other = EscrowKey::generate();
        let dek = [7u8; 32];
        let sealed = seal_to(&key.public(), "keyward/v1/escrow-seal/a/1", &dek).unwrap_or_default();
        assert_eq!(
            key.open("keyward/v1/escrow-seal/a/1", &sealed)
                .map(|d| d.to_vec())
                .ok(),
            Some(dek.to_vec())
        );
        assert!(key.open("keyward/v1/escrow-seal/b/1", &sealed).is_err());
        assert!(other.open("keyward/v1/escrow-seal/a/1", &sealed).is_err());
        assert!(key.open("x", &sealed[..20]).is_err());
    }

    #[test]
    fn age_output_is_armored_and_bad_recipients_are_refused() {
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public().to_string();
        assert!(is_age_recipient(&recipient));
        let armored = age_armored(&recipient, b"kwshare1-test").unwrap_or_default();
        assert!(armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        assert!(!armored.contains("kwshare1"));
        assert!(matches!(
            age_armored("age1nope", b"x"),
            Err(EscrowError::BadRecipient)
        ));
        assert!(!is_age_recipient("ssh-ed25519 AAAA"));
    }
}
