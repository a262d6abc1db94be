//! The gateway handshake as data: the signed `connect` request answering a
//! `connect.challenge`, the `hello-ok` it gets back, and why a connect was refused.

use serde_json::{json, Value};

use super::device::Device;
use super::secret::Credentials;

/// Newest protocol this bridge speaks.
pub const MAX_PROTOCOL: u64 = 4;
/// Oldest protocol it accepts (no `deltaText`: deltas come from the cumulative text).
pub const MIN_PROTOCOL: u64 = 3;
/// Bridges connect as a backend client (a closed list on the gateway).
pub const CLIENT_ID: &str = "gateway-client";
/// See [`CLIENT_ID`].
pub const CLIENT_MODE: &str = "backend";
/// Operators may chat; nodes may not.
pub const ROLE: &str = "operator";
/// History and events (read), send and abort (write).
pub const SCOPES: [&str; 2] = ["operator.read", "operator.write"];

/// What the gateway's `connect.challenge` carries.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// Signed back to prove the key is ours and the signature fresh.
    pub nonce: String,
    /// The gateway's clock, signed as `signedAt`.
    pub ts: u64,
}

impl Challenge {
    /// Reads a `connect.challenge` event; `None` for any other frame.
    pub fn from_frame(frame: &Value) -> Option<Challenge> {
        if frame["type"] != "event" || frame["event"] != "connect.challenge" {
            return None;
        }
        Some(Challenge {
            nonce: frame["payload"]["nonce"].as_str()?.to_owned(),
            ts: frame["payload"]["ts"].as_u64()?,
        })
    }
}

/// The platform as signed: trimmed and lowercased.
fn platform() -> String {
    std::env::consts::OS.trim().to_lowercase()
}

/// The v3 string the device signs.
pub fn signed_payload(device_id: &str, signed_at: u64, token: &str, nonce: &str) -> String {
    format!(
        "v3|{device_id}|{CLIENT_ID}|{CLIENT_MODE}|{ROLE}|{}|{signed_at}|{token}|{nonce}|{}|",
        SCOPES.join(","),
        platform()
    )
}

/// The `connect` request's params. The shared token wins over a stored device token.
pub fn connect_params(challenge: &Challenge, device: &Device, credentials: &Credentials) -> Value {
    let token = credentials
        .token
        .as_ref()
        .or(device.device_token.as_ref())
        .map(|t| t.expose().to_owned());
    let mut auth = serde_json::Map::new();
    if let Some(token) = &token {
        auth.insert("token".into(), json!(token));
    }
    if let Some(password) = &credentials.password {
        auth.insert("password".into(), json!(password.expose()));
    }
    let id = device.id();
    let payload = signed_payload(
        &id,
        challenge.ts,
        token.as_deref().unwrap_or(""),
        &challenge.nonce,
    );
    json!({
        "minProtocol": MIN_PROTOCOL,
        "maxProtocol": MAX_PROTOCOL,
        "client": {
            "id": CLIENT_ID,
            "mode": CLIENT_MODE,
            "version": env!("CARGO_PKG_VERSION"),
            "platform": platform(),
            "displayName": "clawsocket",
        },
        "role": ROLE,
        "scopes": SCOPES,
        "caps": [],
        "auth": auth,
        "device": {
            "id": id,
            "publicKey": device.public_key(),
            "signature": device.sign(&payload),
            "signedAt": challenge.ts,
            "nonce": challenge.nonce,
        },
    })
}

/// The parts of `hello-ok` the bridge uses.
#[derive(Debug, Clone)]
pub struct Hello {
    /// Negotiated protocol (3 or 4).
    pub protocol: u64,
    /// The gateway's tick interval; silence for twice this means the link is dead.
    pub tick_interval_ms: u64,
    /// Largest frame the gateway accepts after the handshake.
    pub max_payload: Option<u64>,
    /// A device token to keep for later connects.
    pub device_token: Option<String>,
    /// The gateway's version, for the log.
    pub server_version: Option<String>,
}

impl Hello {
    /// Reads a successful `connect` response's payload.
    pub fn from_payload(payload: &Value) -> Result<Hello, ConnectError> {
        let protocol = payload["protocol"].as_u64().unwrap_or(0);
        if !(MIN_PROTOCOL..=MAX_PROTOCOL).contains(&protocol) {
            return Err(ConnectError::Protocol(format!(
                "the gateway speaks protocol {protocol}; this bridge speaks {MIN_PROTOCOL} to {MAX_PROTOCOL}"
            )));
        }
        Ok(Hello {
            protocol,
            tick_interval_ms: payload["policy"]["tickIntervalMs"]
                .as_u64()
                .filter(|t| *t > 0)
                .unwrap_or(15_000),
            max_payload: payload["policy"]["maxPayload"].as_u64(),
            device_token: payload["auth"]["deviceToken"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            server_version: payload["server"]["version"].as_str().map(str::to_owned),
        })
    }
}

/// Why a connect attempt failed.
#[derive(Debug, Clone)]
pub enum ConnectError {
    /// The socket could not be opened or broke during the handshake.
    Transport(String),
    /// The gateway wants an operator to approve this device first.
    ApprovalNeeded {
        /// The device id to approve.
        device_id: String,
        /// The pairing request id, when the gateway named one.
        request_id: Option<String>,
    },
    /// The gateway refused the connect (bad secret, bad signature, ...).
    Refused {
        /// The gateway's error code.
        code: String,
        /// The gateway's error text.
        message: String,
    },
    /// No protocol in common, or a malformed handshake.
    Protocol(String),
    /// The gateway is starting (or restarting) and asks to retry shortly.
    Unavailable {
        /// The gateway's text.
        message: String,
        /// When to try again, in milliseconds.
        retry_after_ms: u64,
    },
}

impl ConnectError {
    /// Classifies a refused `connect` response's `error` object.
    pub fn from_error(error: &Value, device_id: &str) -> ConnectError {
        let code = error["code"].as_str().unwrap_or("").to_owned();
        let message = error["message"].as_str().unwrap_or("").to_owned();
        if code == "UNAVAILABLE" || error["retryable"] == true {
            return ConnectError::Unavailable {
                message,
                retry_after_ms: error["retryAfterMs"].as_u64().unwrap_or(500),
            };
        }
        if mentions_pairing(&code) || mentions_pairing(&message) {
            let details = &error["details"];
            return ConnectError::ApprovalNeeded {
                device_id: device_id.to_owned(),
                request_id: details["requestId"]
                    .as_str()
                    .or(details["pairingRequestId"].as_str())
                    .map(str::to_owned),
            };
        }
        ConnectError::Refused { code, message }
    }

    /// Classifies a close frame received during the handshake.
    pub fn from_close(code: u16, reason: &str, device_id: &str) -> ConnectError {
        if mentions_pairing(reason) {
            return ConnectError::ApprovalNeeded {
                device_id: device_id.to_owned(),
                request_id: None,
            };
        }
        match code {
            // Try again later / service restart.
            1012 | 1013 => ConnectError::Unavailable {
                message: reason.to_owned(),
                retry_after_ms: 500,
            },
            // Policy violation or protocol error: the gateway does not want this client.
            1002 | 1008 => ConnectError::Refused {
                code: format!("close {code}"),
                message: reason.to_owned(),
            },
            _ => ConnectError::Transport(format!("closed during the handshake: {code} {reason}")),
        }
    }
}

fn mentions_pairing(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    text.contains("pairing") || text.contains("not_paired") || text.contains("not paired")
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Transport(e) => write!(f, "cannot reach the OpenClaw gateway: {e}"),
            ConnectError::ApprovalNeeded {
                device_id,
                request_id,
            } => write!(
                f,
                "the OpenClaw gateway has not approved this clawsocket device yet; on the gateway host run `openclaw devices approve {}` (see `openclaw devices list`; device id {device_id})",
                request_id.as_deref().unwrap_or("<requestId>")
            ),
            ConnectError::Refused { code, message } => {
                write!(f, "the OpenClaw gateway refused the connection: {code}: {message}")
            }
            ConnectError::Protocol(e) => write!(f, "OpenClaw gateway handshake failed: {e}"),
            ConnectError::Unavailable { message, .. } => {
                write!(f, "the OpenClaw gateway is not ready yet: {message}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_payload_has_the_v3_shape() {
        let p = signed_payload("abc", 42, "tok", "n1");
        let parts: Vec<&str> = p.split('|').collect();
        assert_eq!(parts.len(), 11);
        assert_eq!(
            &parts[..9],
            &[
                "v3",
                "abc",
                "gateway-client",
                "backend",
                "operator",
                "operator.read,operator.write",
                "42",
                "tok",
                "n1"
            ]
        );
        assert_eq!(parts[10], "");
    }

    #[test]
    fn pairing_errors_become_an_approval_message() {
        let e = ConnectError::from_error(
            &json!({"code": "NOT_PAIRED", "message": "pairing required", "details": {"requestId": "r-1"}}),
            "dev",
        );
        let text = e.to_string();
        assert!(text.contains("openclaw devices approve r-1"), "{text}");
        assert!(matches!(
            ConnectError::from_close(1008, "pairing required", "dev"),
            ConnectError::ApprovalNeeded { .. }
        ));
        assert!(matches!(
            ConnectError::from_error(
                &json!({"code": "UNAUTHORIZED", "message": "bad token"}),
                "d"
            ),
            ConnectError::Refused { .. }
        ));
        assert!(matches!(
            ConnectError::from_error(
                &json!({"code": "UNAVAILABLE", "message": "gateway starting; retry shortly",
                    "retryable": true, "retryAfterMs": 700}),
                "d"
            ),
            ConnectError::Unavailable {
                retry_after_ms: 700,
                ..
            }
        ));
    }

    #[test]
    fn hello_rejects_unknown_protocols() {
        assert!(Hello::from_payload(&json!({"protocol": 5})).is_err());
        let h = Hello::from_payload(&json!({"protocol": 3, "policy": {"tickIntervalMs": 200}}))
            .unwrap();
        assert_eq!((h.protocol, h.tick_interval_ms), (3, 200));
    }
}
