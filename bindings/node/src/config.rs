//! `Config`: the core's `channels.websocket` configuration, parsed and validated by the core.

use napi_derive::napi;
use serde_json::Value;

use napi::Result;

use crate::error::{self, Code};

/// The protocol configuration (the seed's `channels.websocket` block plus clawsocket's keys).
#[napi]
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) inner: clawsocket_core::Config,
}

#[napi]
impl Config {
    /// Parses a whole OpenClaw-style config (`{channels:{websocket:{...}}}`) or just the block,
    /// as JSON text or an object; absent means the defaults. `hostKeys` are top-level keys of
    /// the block that belong to the host and are skipped instead of refused. Throws with
    /// `code` `invalid_config` naming the offending key.
    #[napi(
        constructor,
        ts_args_type = "config?: string | object | null, hostKeys?: Array<string> | null"
    )]
    pub fn new(config: Option<Value>, host_keys: Option<Vec<String>>) -> Result<Self, Code> {
        let keys: Vec<&str> = host_keys.iter().flatten().map(String::as_str).collect();
        let inner = match config {
            None => clawsocket_core::Config::default(),
            Some(Value::String(text)) => {
                clawsocket_core::Config::from_json_with_host_keys(&text, &keys)
                    .map_err(error::config)?
            }
            Some(value) => {
                clawsocket_core::Config::from_value(&value, &keys).map_err(error::config)?
            }
        };
        Ok(Config { inner })
    }

    /// Applies the seed's environment overrides (pass the values of `WS_AUTH_ENABLED` and
    /// `WS_AUTH_ENDPOINT`, or `undefined`).
    #[napi]
    pub fn apply_env(
        &mut self,
        auth_enabled: Option<String>,
        auth_endpoint: Option<String>,
    ) -> Result<(), Code> {
        self.inner
            .apply_env(auth_enabled.as_deref(), auth_endpoint.as_deref())
            .map_err(error::config)
    }

    /// Seed `enabled`.
    #[napi(getter)]
    pub fn enabled(&self) -> bool {
        self.inner.enabled
    }

    /// Seed `port`.
    #[napi(getter)]
    pub fn port(&self) -> u32 {
        u32::from(self.inner.port)
    }

    /// Seed `host` (bind address).
    #[napi(getter)]
    pub fn host(&self) -> String {
        self.inner.host.clone()
    }

    /// Seed `path` of the WebSocket endpoint.
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.inner.path.clone()
    }

    /// `auth.enabled`.
    #[napi(getter)]
    pub fn auth_enabled(&self) -> bool {
        self.inner.auth.enabled
    }

    /// `auth.endpoint`: where the host POSTs verify requests.
    #[napi(getter)]
    pub fn auth_endpoint(&self) -> String {
        self.inner.auth.endpoint.clone()
    }

    /// `auth.timeout` in milliseconds.
    #[napi(getter)]
    pub fn auth_timeout_ms(&self) -> i64 {
        crate::input::number(self.inner.auth.timeout_ms)
    }

    /// `auth.required`.
    #[napi(getter)]
    pub fn auth_required(&self) -> bool {
        self.inner.auth.required
    }

    /// Default agent id (`agentId`).
    #[napi(getter)]
    pub fn agent_id(&self) -> String {
        self.inner.agent_id.clone()
    }

    /// `limits.maxFrameBytes`: the largest inbound frame the core accepts.
    #[napi(getter)]
    pub fn max_frame_bytes(&self) -> i64 {
        crate::input::number(self.inner.limits.max_frame_bytes as u64)
    }

    /// `timing.heartbeatMs`.
    #[napi(getter)]
    pub fn heartbeat_ms(&self) -> i64 {
        crate::input::number(self.inner.timing.heartbeat_ms)
    }
}
