//! The `channels.websocket` configuration: the seed plugin's options plus ours, with defaults,
//! validation, and errors that name the offending key.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde_json::{Map, Value};

/// Who may open a direct conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmPolicy {
    /// Anyone (the seed's default).
    Open,
    /// Only senders listed in `allowFrom` (`"*"` admits everyone).
    Allowlist,
    /// Listed senders, plus senders an operator approved by pairing code.
    Pairing,
    /// No direct conversations at all.
    Disabled,
}

impl DmPolicy {
    /// The config/wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            DmPolicy::Open => "open",
            DmPolicy::Allowlist => "allowlist",
            DmPolicy::Pairing => "pairing",
            DmPolicy::Disabled => "disabled",
        }
    }
}

/// What happens to a message that arrives while its session's reply is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusyPolicy {
    /// Run it after the running reply, in arrival order, up to `limits.maxQueuedTurns`.
    Queue,
    /// Cancel the running reply and run the new message.
    Interrupt,
    /// Refuse it with code `busy`.
    Reject,
}

impl BusyPolicy {
    /// The config spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            BusyPolicy::Queue => "queue",
            BusyPolicy::Interrupt => "interrupt",
            BusyPolicy::Reject => "reject",
        }
    }
}

/// `auth.*`: the external verify endpoint of the seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Verify tokens at all (seed default `true`).
    pub enabled: bool,
    /// Where the host POSTs the verify request.
    pub endpoint: String,
    /// How long the core waits for the verify answer, in milliseconds.
    pub timeout_ms: u64,
    /// Refuse connections without a valid token; when false they connect anonymously.
    pub required: bool,
    /// `tokenType` sent to the verify endpoint when the URL does not carry one.
    pub token_type: String,
}

/// `dynamicAgentCreation.*`: one agent per direct-message sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicAgentConfig {
    /// Create agents at all.
    pub enabled: bool,
    /// Workspace path template (`{agentId}`, `{userId}`, `~`); expanded by the host.
    pub workspace_template: String,
    /// Agent directory template; expanded by the host.
    pub agent_dir_template: String,
    /// Upper bound on dynamic agents; senders beyond it use the default agent.
    pub max_agents: Option<u32>,
}

/// `limits.*`: every bound the core enforces per connection or session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted inbound frame in bytes.
    pub max_frame_bytes: usize,
    /// Largest accepted `content`, in characters.
    pub max_content_chars: usize,
    /// Frames held while a connection's token is being verified.
    pub max_pending_frames: usize,
    /// Messages waiting behind a running reply in one session.
    pub max_queued_turns: usize,
    /// Sustained messages per minute per identity (0: unlimited).
    pub messages_per_minute: u32,
    /// Burst size of the per-identity token bucket.
    pub message_burst: u32,
    /// Frames kept per session for `chat.resume`.
    pub replay_frames: usize,
    /// Bytes kept per session for `chat.resume`.
    pub replay_bytes: usize,
    /// Connections attached to one session at once (fan-out bound).
    pub max_session_connections: usize,
}

/// Timers the core runs through `poll_timeout`, in milliseconds (0 disables one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// Interval advertised for app-level `ping`; a v2 connection silent for twice this is closed.
    pub heartbeat_ms: u64,
    /// Close any connection that sent nothing for this long.
    pub idle_timeout_ms: u64,
    /// Send `chat.keepalive` when a running turn was silent for this long.
    pub keepalive_ms: u64,
    /// Fail a turn whose agent produced nothing for this long.
    pub agent_timeout_ms: u64,
}

/// The whole protocol configuration. Host-only settings (agent backend, store, ...) live beside
/// it in the host's own config and are skipped by [`Config::from_json_with_host_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Seed `enabled`: whether the host should serve the channel at all.
    pub enabled: bool,
    /// Seed `port`.
    pub port: u16,
    /// Seed `host`.
    pub host: String,
    /// Seed `path`.
    pub path: String,
    /// Seed `auth`.
    pub auth: AuthConfig,
    /// Seed `dynamicAgentCreation`.
    pub dynamic_agents: DynamicAgentConfig,
    /// Seed `dmPolicy` (declared there, enforced here).
    pub dm_policy: DmPolicy,
    /// Seed `allowFrom`.
    pub allow_from: Vec<String>,
    /// Agent that serves sessions when no dynamic agent applies (`agentId`, default `main`).
    pub agent_id: String,
    /// Characters per `chat.response` frame before the reply is split (`textChunkLimit`).
    pub text_chunk_limit: usize,
    /// Send the seed's `Connected to WebSocket chat server` greeting after `chat.ready`.
    pub greeting: bool,
    /// Secret mixed into pairing codes so they differ between deployments (`pairingSeed`).
    pub pairing_seed: String,
    /// `busyPolicy`.
    pub busy_policy: BusyPolicy,
    /// `limits`.
    pub limits: Limits,
    /// `timing`.
    pub timing: Timing,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            port: 18800,
            host: "0.0.0.0".to_owned(),
            path: "/ws".to_owned(),
            auth: AuthConfig {
                enabled: true,
                endpoint: "http://localhost:3000/api/auth/verify".to_owned(),
                timeout_ms: 5000,
                required: true,
                token_type: "local".to_owned(),
            },
            dynamic_agents: DynamicAgentConfig {
                enabled: false,
                workspace_template: "~/.openclaw/workspace-{agentId}".to_owned(),
                agent_dir_template: "~/.openclaw/agents/{agentId}/agent".to_owned(),
                max_agents: None,
            },
            dm_policy: DmPolicy::Open,
            allow_from: Vec::new(),
            agent_id: "main".to_owned(),
            text_chunk_limit: 4000,
            greeting: false,
            pairing_seed: String::new(),
            busy_policy: BusyPolicy::Queue,
            limits: Limits {
                max_frame_bytes: 256 * 1024,
                max_content_chars: 32_000,
                max_pending_frames: 32,
                max_queued_turns: 8,
                messages_per_minute: 60,
                message_burst: 20,
                replay_frames: 512,
                replay_bytes: 1024 * 1024,
                max_session_connections: 32,
            },
            timing: Timing {
                heartbeat_ms: 30_000,
                idle_timeout_ms: 300_000,
                keepalive_ms: 25_000,
                agent_timeout_ms: 120_000,
            },
        }
    }
}

/// A configuration value that cannot be used, naming its dotted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path of the key, e.g. `auth.timeout` (empty for the document itself).
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

impl core::error::Error for ConfigError {}

impl Config {
    /// Parses a JSON config: a whole OpenClaw-style file (`{"channels":{"websocket":{...}}}`) or
    /// just the `channels.websocket` block. Unknown keys in the block are errors.
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        Config::from_json_with_host_keys(text, &[])
    }

    /// Like [`Config::from_json`], but `host_keys` are top-level keys of the block that belong to
    /// the host (its agent backend, store, ...) and are skipped rather than refused.
    pub fn from_json_with_host_keys(text: &str, host_keys: &[&str]) -> Result<Config, ConfigError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ConfigError {
            key: String::new(),
            message: format!("not valid JSON: {e}"),
        })?;
        Config::from_value(&value, host_keys)
    }

    /// Parses an already-decoded document (hosts that read YAML convert it to JSON values first).
    pub fn from_value(value: &Value, host_keys: &[&str]) -> Result<Config, ConfigError> {
        let root = value.as_object().ok_or_else(|| ConfigError {
            key: String::new(),
            message: "expected an object".to_owned(),
        })?;
        if let Some(channels) = root.get("channels") {
            let channels = Section::new(channels, "channels")?;
            return match channels.map.get("websocket") {
                Some(block) => parse_block(block, "channels.websocket.", host_keys),
                None => Ok(Config::default()),
            };
        }
        parse_block(value, "", host_keys)
    }

    /// Applies the seed's environment overrides: `WS_AUTH_ENABLED` (`true`/`false`/`1`/`0`) and
    /// `WS_AUTH_ENDPOINT`. The host reads the variables and passes their values.
    pub fn apply_env(
        &mut self,
        auth_enabled: Option<&str>,
        auth_endpoint: Option<&str>,
    ) -> Result<(), ConfigError> {
        if let Some(raw) = auth_enabled {
            self.auth.enabled = match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(ConfigError {
                        key: "WS_AUTH_ENABLED".to_owned(),
                        message: format!("expected true, false, 1 or 0, got {raw:?}"),
                    })
                }
            };
        }
        if let Some(endpoint) = auth_endpoint {
            self.auth.endpoint = check_endpoint("WS_AUTH_ENDPOINT", endpoint)?;
        }
        Ok(())
    }
}

fn parse_block(block: &Value, prefix: &str, host_keys: &[&str]) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    let mut top = Section::new(block, prefix.trim_end_matches('.'))?;
    top.prefix = prefix.to_owned();
    for key in host_keys {
        top.skip(key);
    }
    if let Some(v) = top.bool("enabled")? {
        config.enabled = v;
    }
    if let Some(v) = top.uint("port", 0, 65_535)? {
        config.port = v as u16;
    }
    if let Some(v) = top.string("host")? {
        if v.is_empty() {
            return Err(top.error("host", "must not be empty"));
        }
        config.host = v;
    }
    if let Some(v) = top.string("path")? {
        if !v.starts_with('/') {
            return Err(top.error("path", "must start with /"));
        }
        config.path = v;
    }
    if let Some(auth) = top.section("auth")? {
        let mut auth = auth;
        if let Some(v) = auth.bool("enabled")? {
            config.auth.enabled = v;
        }
        if let Some(v) = auth.string("endpoint")? {
            config.auth.endpoint = check_endpoint(&auth.key("endpoint"), &v)?;
        }
        if let Some(v) = auth.uint("timeout", 1, 600_000)? {
            config.auth.timeout_ms = v;
        }
        if let Some(v) = auth.bool("required")? {
            config.auth.required = v;
        }
        if let Some(v) = auth.string("tokenType")? {
            config.auth.token_type = v;
        }
        auth.finish()?;
    }
    if let Some(mut dynamic) = top.section("dynamicAgentCreation")? {
        if let Some(v) = dynamic.bool("enabled")? {
            config.dynamic_agents.enabled = v;
        }
        if let Some(v) = dynamic.string("workspaceTemplate")? {
            config.dynamic_agents.workspace_template = v;
        }
        if let Some(v) = dynamic.string("agentDirTemplate")? {
            config.dynamic_agents.agent_dir_template = v;
        }
        if let Some(v) = dynamic.uint("maxAgents", 0, u64::from(u32::MAX))? {
            config.dynamic_agents.max_agents = Some(v as u32);
        }
        dynamic.finish()?;
    }
    if let Some(v) = top.string("dmPolicy")? {
        config.dm_policy = match v.as_str() {
            "open" => DmPolicy::Open,
            "allowlist" => DmPolicy::Allowlist,
            "pairing" => DmPolicy::Pairing,
            "disabled" => DmPolicy::Disabled,
            _ => {
                return Err(top.error(
                    "dmPolicy",
                    &format!("expected open, allowlist, pairing or disabled, got {v:?}"),
                ))
            }
        };
    }
    if let Some(v) = top.string_list("allowFrom")? {
        config.allow_from = v;
    }
    if let Some(v) = top.string("agentId")? {
        if !crate::identity::is_agent_id(&v) {
            return Err(top.error("agentId", "must match [a-z0-9][a-z0-9_-]{0,63}"));
        }
        config.agent_id = v;
    }
    if let Some(v) = top.uint("textChunkLimit", 1, 1_000_000)? {
        config.text_chunk_limit = v as usize;
    }
    if let Some(v) = top.bool("greeting")? {
        config.greeting = v;
    }
    if let Some(v) = top.string("pairingSeed")? {
        config.pairing_seed = v;
    }
    if let Some(v) = top.string("busyPolicy")? {
        config.busy_policy = match v.as_str() {
            "queue" => BusyPolicy::Queue,
            "interrupt" => BusyPolicy::Interrupt,
            "reject" => BusyPolicy::Reject,
            _ => {
                return Err(top.error(
                    "busyPolicy",
                    &format!("expected queue, interrupt or reject, got {v:?}"),
                ))
            }
        };
    }
    if let Some(mut limits) = top.section("limits")? {
        let l = &mut config.limits;
        if let Some(v) = limits.uint("maxFrameBytes", 64, 64 * 1024 * 1024)? {
            l.max_frame_bytes = v as usize;
        }
        if let Some(v) = limits.uint("maxContentChars", 1, 16 * 1024 * 1024)? {
            l.max_content_chars = v as usize;
        }
        if let Some(v) = limits.uint("maxPendingFrames", 0, 10_000)? {
            l.max_pending_frames = v as usize;
        }
        if let Some(v) = limits.uint("maxQueuedTurns", 0, 10_000)? {
            l.max_queued_turns = v as usize;
        }
        if let Some(v) = limits.uint("messagesPerMinute", 0, 1_000_000)? {
            l.messages_per_minute = v as u32;
        }
        if let Some(v) = limits.uint("messageBurst", 1, 1_000_000)? {
            l.message_burst = v as u32;
        }
        if let Some(v) = limits.uint("replayFrames", 0, 1_000_000)? {
            l.replay_frames = v as usize;
        }
        if let Some(v) = limits.uint("replayBytes", 0, 1 << 32)? {
            l.replay_bytes = v as usize;
        }
        if let Some(v) = limits.uint("maxSessionConnections", 1, 100_000)? {
            l.max_session_connections = v as usize;
        }
        limits.finish()?;
    }
    if let Some(mut timing) = top.section("timing")? {
        let t = &mut config.timing;
        if let Some(v) = timing.uint("heartbeatMs", 0, 3_600_000)? {
            t.heartbeat_ms = v;
        }
        if let Some(v) = timing.uint("idleTimeoutMs", 0, 86_400_000)? {
            t.idle_timeout_ms = v;
        }
        if let Some(v) = timing.uint("keepaliveMs", 0, 3_600_000)? {
            t.keepalive_ms = v;
        }
        if let Some(v) = timing.uint("agentTimeoutMs", 0, 86_400_000)? {
            t.agent_timeout_ms = v;
        }
        timing.finish()?;
    }
    top.finish()?;
    Ok(config)
}

fn check_endpoint(key: &str, endpoint: &str) -> Result<String, ConfigError> {
    if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        Ok(endpoint.to_owned())
    } else {
        Err(ConfigError {
            key: key.to_owned(),
            message: format!("expected an http:// or https:// URL, got {endpoint:?}"),
        })
    }
}

/// One object of the config being read; tracks which keys were consumed so that leftovers
/// (typos, unsupported options) are reported by name.
struct Section<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
    seen: Vec<&'a str>,
}

impl<'a> Section<'a> {
    fn new(value: &'a Value, key: &str) -> Result<Section<'a>, ConfigError> {
        let map = value.as_object().ok_or_else(|| ConfigError {
            key: key.to_owned(),
            message: "expected an object".to_owned(),
        })?;
        let prefix = if key.is_empty() {
            String::new()
        } else {
            format!("{key}.")
        };
        Ok(Section {
            map,
            prefix,
            seen: Vec::new(),
        })
    }

    fn key(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    fn error(&self, name: &str, message: &str) -> ConfigError {
        ConfigError {
            key: self.key(name),
            message: message.to_owned(),
        }
    }

    fn skip(&mut self, name: &str) {
        if let Some((k, _)) = self.map.get_key_value(name) {
            self.seen.push(k.as_str());
        }
    }

    fn get(&mut self, name: &str) -> Option<&'a Value> {
        let (k, v) = self.map.get_key_value(name)?;
        self.seen.push(k.as_str());
        // `null` means "use the default", as JSON configs written by tools often say.
        if v.is_null() {
            None
        } else {
            Some(v)
        }
    }

    fn bool(&mut self, name: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.error(name, "expected true or false")),
        }
    }

    fn string(&mut self, name: &str) -> Result<Option<String>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.error(name, "expected a string")),
        }
    }

    fn uint(&mut self, name: &str, min: u64, max: u64) -> Result<Option<u64>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
                _ => Err(self.error(
                    name,
                    &format!("expected a whole number from {min} to {max}, got {n}"),
                )),
            },
            Some(_) => Err(self.error(name, "expected a number")),
        }
    }

    fn string_list(&mut self, name: &str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        // Numeric ids are common in allowlists; accept them as their text.
                        Value::Number(n) => out.push(n.to_string()),
                        _ => {
                            return Err(ConfigError {
                                key: format!("{}{}[{}]", self.prefix, name, i),
                                message: "expected a string".to_owned(),
                            })
                        }
                    }
                }
                Ok(Some(out))
            }
            Some(_) => Err(self.error(name, "expected a list of strings")),
        }
    }

    fn section(&mut self, name: &str) -> Result<Option<Section<'a>>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => Section::new(v, &self.key(name)).map(Some),
        }
    }

    fn finish(self) -> Result<(), ConfigError> {
        for key in self.map.keys() {
            if !self.seen.contains(&key.as_str()) {
                return Err(ConfigError {
                    key: format!("{}{}", self.prefix, key),
                    message: "unknown option".to_owned(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_file_and_block_are_the_same() {
        let whole = Config::from_json(r#"{"channels":{"websocket":{"port":9000,"dmPolicy":"allowlist","allowFrom":["a",7]}}}"#).unwrap();
        let block =
            Config::from_json(r#"{"port":9000,"dmPolicy":"allowlist","allowFrom":["a","7"]}"#)
                .unwrap();
        assert_eq!(whole, block);
        assert_eq!(whole.port, 9000);
        assert_eq!(whole.allow_from, ["a", "7"]);
    }

    #[test]
    fn errors_name_the_key() {
        let err = Config::from_json(r#"{"channels":{"websocket":{"auth":{"timeout":"5s"}}}}"#)
            .unwrap_err();
        assert_eq!(err.key, "channels.websocket.auth.timeout");
        let err = Config::from_json(r#"{"auth":{"enabeld":true}}"#).unwrap_err();
        assert_eq!(err.key, "auth.enabeld");
        assert_eq!(err.message, "unknown option");
        let err = Config::from_json(r#"{"dmPolicy":"closed"}"#).unwrap_err();
        assert_eq!(err.key, "dmPolicy");
        let err = Config::from_json(r#"{"allowFrom":["a",{}]}"#).unwrap_err();
        assert_eq!(err.key, "allowFrom[1]");
    }

    #[test]
    fn host_keys_are_skipped_only_when_named() {
        assert!(Config::from_json(r#"{"agent":{"kind":"builtin"}}"#).is_err());
        assert!(
            Config::from_json_with_host_keys(r#"{"agent":{"kind":"builtin"}}"#, &["agent"]).is_ok()
        );
    }

    #[test]
    fn env_overrides() {
        let mut c = Config::default();
        c.apply_env(Some("0"), Some("http://auth:3000/v")).unwrap();
        assert!(!c.auth.enabled);
        assert_eq!(c.auth.endpoint, "http://auth:3000/v");
        assert_eq!(
            c.apply_env(Some("maybe"), None).unwrap_err().key,
            "WS_AUTH_ENABLED"
        );
    }
}
