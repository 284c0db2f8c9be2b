//! S3-compatible storage for Nightjar (AWS S3, MinIO, Cloudflare R2,
//! Backblaze B2, Wasabi): [`S3Destination`] behind core's `Destination`
//! trait, opened from `s3://BUCKET/PREFIX` with the `[s3]` settings and
//! credentials from [`credentials::resolve`]. GUI-free.

pub mod credentials;
pub mod destination;

use nightjar_core::config::S3Settings;
use nightjar_core::destination::Destination;
use nightjar_core::engine::{EngineBuilder, OpenEnv, S3};
use nightjar_core::secrets::SecretStore;
use nightjar_core::Result;

pub use credentials::{Credentials, ACCESS_KEY_ACCOUNT, SECRET_KEY_ACCOUNT};
pub use destination::S3Destination;

/// Opens `s3://{location}` (`BUCKET/PREFIX`) with the `[s3]` settings and
/// the first credentials found ([`credentials::resolve`]).
///
/// # Errors
/// No credentials, or the client cannot be set up.
pub fn open_destination(settings: &S3Settings, secrets: &dyn SecretStore, location: &str) -> Result<Box<dyn Destination>> {
    let creds = credentials::resolve(settings, secrets)?;
    Ok(Box::new(S3Destination::new(settings, &creds, location)?))
}

/// Gives an engine `s3://` destinations (with the `[s3]` settings of the
/// engine's current config). Every front end calls it when it builds its engine.
#[must_use]
pub fn install(builder: EngineBuilder) -> EngineBuilder {
    builder.destination(S3, |location: &str, env: &OpenEnv<'_>| open_destination(&env.settings.s3, env.secrets.as_ref(), location))
}
