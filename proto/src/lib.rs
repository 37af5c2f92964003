//! Keyward's wire types: the request and response bodies of the JSON API (`/api/v1`), its
//! error envelope and its path parameters, one module per wing. The server answers with these,
//! and the OpenAPI document is made from them; clients, the integration tests and the bench
//! read and write them. A crate of its own with few dependencies, so a client needs no server.

pub mod access;
pub mod accounts;
pub mod audit;
pub mod backup;
pub mod device;
pub mod escrows;
pub mod imports;
pub mod incidents;
pub mod me;
pub mod members;
pub mod otp;
pub mod passwords;
pub mod releases;
pub mod rotation;
pub mod wire;
pub mod words;

pub use wire::{AccountId, ErrorBody, ErrorDetail, PlatformName};

use secrecy::{ExposeSecret, SecretString};

/// A value that must not be printed or logged: a seed, a code, a password, an export. It is
/// written out only when serialized onto the wire; `Debug` shows nothing of it.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Sensitive(SecretString);

use serde::Deserialize;

impl Sensitive {
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }
}

impl ExposeSecret<str> for Sensitive {
    fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<Sensitive> for SecretString {
    fn from(value: Sensitive) -> Self {
        value.0
    }
}

impl serde::Serialize for Sensitive {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.expose_secret())
    }
}

impl std::fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sensitive(…)")
    }
}
