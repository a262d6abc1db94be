//! The bridge's device identity on the gateway: an Ed25519 key pair generated once and kept
//! (with the device token the gateway hands out) in a 0600 JSON file, reused on every start.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::secret::Secret;

/// The key pair and what the gateway told us about it.
pub struct Device {
    key: SigningKey,
    path: PathBuf,
    /// The device token from the last `hello-ok`, when the gateway issued one.
    pub device_token: Option<Secret>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("id", &self.id())
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Loads the identity file, or creates it (and its folder) with a fresh key.
    pub fn load_or_create(path: &Path) -> Result<Device, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Device::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed)
                    .map_err(|e| format!("cannot generate a device key: {e}"))?;
                let device = Device {
                    key: SigningKey::from_bytes(&seed),
                    path: path.to_owned(),
                    device_token: None,
                };
                device.save()?;
                tracing::info!(device = %device.id(), file = %path.display(), "created an OpenClaw device identity");
                Ok(device)
            }
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    fn parse(path: &Path, text: &str) -> Result<Device, String> {
        let bad = |what: &str| format!("{}: {what}", path.display());
        let doc: Value = serde_json::from_str(text).map_err(|_| bad("not valid JSON"))?;
        let seed = doc["privateKey"]
            .as_str()
            .and_then(|k| URL_SAFE_NO_PAD.decode(k).ok())
            .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
            .ok_or_else(|| bad("privateKey is missing or not a base64url 32-byte key"))?;
        let device = Device {
            key: SigningKey::from_bytes(&seed),
            path: path.to_owned(),
            device_token: doc["deviceToken"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(|t| Secret::new(t.to_owned())),
        };
        if doc["deviceId"].as_str().is_some_and(|id| id != device.id()) {
            return Err(bad("deviceId does not match the key"));
        }
        Ok(device)
    }

    /// Writes the file atomically, readable by the owner only.
    fn save(&self) -> Result<(), String> {
        let fail = |e: std::io::Error| format!("{}: {e}", self.path.display());
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let doc = json!({
            "version": 1,
            "deviceId": self.id(),
            "publicKey": self.public_key(),
            "privateKey": URL_SAFE_NO_PAD.encode(self.key.to_bytes()),
            "deviceToken": self.device_token.as_ref().map(Secret::expose),
        });
        let tmp = self.path.with_extension("tmp");
        {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp).map_err(fail)?;
            file.write_all(
                serde_json::to_string_pretty(&doc)
                    .unwrap_or_default()
                    .as_bytes(),
            )
            .and_then(|()| file.sync_all())
            .map_err(fail)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(fail)
    }

    /// Keeps a device token the gateway issued (saved at once; unchanged tokens are not rewritten).
    pub fn remember_token(&mut self, token: &str) -> Result<(), String> {
        if self.device_token.as_ref().map(Secret::expose) == Some(token) {
            return Ok(());
        }
        self.device_token = Some(Secret::new(token.to_owned()));
        self.save()
    }

    /// Lowercase hex SHA-256 of the raw public key.
    pub fn id(&self) -> String {
        Sha256::digest(self.key.verifying_key().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The raw public key, base64url without padding.
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes())
    }

    /// Signs `payload`, base64url without padding.
    pub fn sign(&self, payload: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.key.sign(payload.as_bytes()).to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused_with_its_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("device.json");
        let mut first = Device::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        first.remember_token("dev-token").unwrap();
        let again = Device::load_or_create(&path).unwrap();
        assert_eq!(again.id(), first.id());
        assert_eq!(again.id().len(), 64);
        assert_eq!(again.device_token.as_ref().unwrap().expose(), "dev-token");
        assert_eq!(again.sign("x"), first.sign("x"));
    }

    #[test]
    fn a_damaged_file_is_an_error_not_a_new_identity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.json");
        std::fs::write(&path, "{\"privateKey\":\"short\"}").unwrap();
        assert!(Device::load_or_create(&path).is_err());
    }
}
