//! The gateway secret (token or password), read from its environment variable or file at
//! every connect so a rotated file is picked up. It never reaches a log or `{:?}` output.

use crate::settings::SecretSource;

/// A secret string whose `Debug` form is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// What the bridge authenticates with.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The gateway's shared token.
    pub token: Option<Secret>,
    /// The gateway's password.
    pub password: Option<Secret>,
}

/// Reads the configured secret now. Errors name the source, never the value.
pub fn read(source: Option<&SecretSource>) -> Result<Credentials, String> {
    let from_env = |var: &str| {
        std::env::var(var)
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .map(Secret::new)
            .ok_or_else(|| format!("environment variable {var} is not set or empty"))
    };
    let from_file = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map_err(|e| format!("{}: {e}", path.display()))
            .map(|v| v.trim().to_owned())
            .and_then(|v| {
                if v.is_empty() {
                    Err(format!("{} is empty", path.display()))
                } else {
                    Ok(Secret::new(v))
                }
            })
    };
    Ok(match source {
        None => Credentials::default(),
        Some(SecretSource::TokenEnv(var)) => Credentials {
            token: Some(from_env(var)?),
            password: None,
        },
        Some(SecretSource::TokenFile(path)) => Credentials {
            token: Some(from_file(path)?),
            password: None,
        },
        Some(SecretSource::PasswordEnv(var)) => Credentials {
            token: None,
            password: Some(from_env(var)?),
        },
        Some(SecretSource::PasswordFile(path)) => Credentials {
            token: None,
            password: Some(from_file(path)?),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_value() {
        let c = Credentials {
            token: Some(Secret::new("hunter2".into())),
            password: None,
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn reads_a_trimmed_file_and_names_missing_sources() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "abc\n").unwrap();
        let c = read(Some(&SecretSource::TokenFile(file))).unwrap();
        assert_eq!(c.token.unwrap().expose(), "abc");
        let err = read(Some(&SecretSource::PasswordEnv(
            "CLAWSOCKET_TEST_SURELY_UNSET_VAR".into(),
        )))
        .unwrap_err();
        assert!(err.contains("CLAWSOCKET_TEST_SURELY_UNSET_VAR"));
    }
}
