//! Everything the server is configured with: the core's `channels.websocket` block (parsed by
//! the core) plus the host's own sections in that block (`agent`, `store`, `media`, `server`),
//! command-line overrides and the seed's environment overrides.

use std::path::{Path, PathBuf};

use clawsocket_core::Config;
use serde_json::{Map, Value};

/// Top-level keys of the websocket block that belong to the server, not the protocol core.
pub const HOST_KEYS: &[&str] = &["agent", "store", "media", "server"];

/// How connecting clients prove who they are.
#[derive(Clone)]
pub enum AuthMode {
    /// `auth.enabled: false` (or `WS_AUTH_ENABLED=false`): anyone may connect.
    Open,
    /// The seed's external verify endpoint (`auth.endpoint`).
    External,
    /// Nothing about auth was configured: a token generated at start protects the socket.
    Generated(String),
}

impl std::fmt::Debug for AuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The generated token never reaches a log through `{:?}`.
        match self {
            AuthMode::Open => f.write_str("Open"),
            AuthMode::External => f.write_str("External"),
            AuthMode::Generated(_) => f.write_str("Generated(<redacted>)"),
        }
    }
}

/// Which agent answers turns.
#[derive(Debug, Clone)]
pub enum AgentSettings {
    /// The offline, deterministic agent.
    Builtin {
        /// Pause between streamed chunks, in milliseconds.
        delay_ms: u64,
    },
    /// An OpenAI-compatible chat-completions endpoint.
    OpenAi(OpenAiSettings),
    /// One subprocess per turn.
    Exec(ExecSettings),
    /// A running OpenClaw gateway.
    OpenClaw(OpenClawSettings),
    /// A fixed reply in a fixed number of chunks (load tests, client development).
    Stub {
        /// Stream frames per reply.
        chunks: u32,
        /// Text of each chunk.
        text: String,
        /// Pause between chunks, in milliseconds.
        delay_ms: u64,
    },
}

/// `agent.openai`.
#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    /// Base URL up to and including `/v1` (the server appends `/chat/completions`).
    pub base_url: String,
    /// Model name sent in every request.
    pub model: String,
    /// Name of the environment variable holding the API key (the key itself never sits in the file).
    pub api_key_env: Option<String>,
    /// System prompt sent first, when set.
    pub system_prompt: Option<String>,
    /// How many earlier messages of the session are sent along.
    pub history_messages: usize,
}

/// `agent.openclaw`: where the gateway is and how the bridge proves who it is.
#[derive(Debug, Clone)]
pub struct OpenClawSettings {
    /// `ws://` or `wss://` URL of the gateway.
    pub url: String,
    /// Where the gateway token or password comes from (never the secret itself).
    pub secret: Option<SecretSource>,
    /// The OpenClaw agent every turn goes to.
    pub agent_id: String,
    /// The device identity file (Ed25519 key and device token), created on first start.
    pub device_key_file: PathBuf,
    /// How long one gateway request may take, in milliseconds.
    pub request_timeout_ms: u64,
    /// How long a new turn waits for the gateway connection, in milliseconds.
    pub reconnect_wait_ms: u64,
}

/// Where the gateway secret is read from, at every connect (so a rotated file is picked up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `tokenEnv`: a gateway token in this environment variable.
    TokenEnv(String),
    /// `tokenFile`: a gateway token in this file.
    TokenFile(PathBuf),
    /// `passwordEnv`: a gateway password in this environment variable.
    PasswordEnv(String),
    /// `passwordFile`: a gateway password in this file.
    PasswordFile(PathBuf),
}

/// `agent.exec`.
#[derive(Debug, Clone)]
pub struct ExecSettings {
    /// Program and arguments (no shell involved).
    pub command: Vec<String>,
    /// The process is killed after this long, in milliseconds.
    pub timeout_ms: u64,
}

/// The whole server configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The protocol core's configuration.
    pub core: Config,
    /// Authentication mode the server runs.
    pub auth: AuthMode,
    /// Agent backend.
    pub agent: AgentSettings,
    /// Workspace of the default agent (exec backend's working directory).
    pub workspace: PathBuf,
    /// Directory of the SQLite store.
    pub data_dir: PathBuf,
    /// How often changed replay buffers are written to the store, in milliseconds (0: only at
    /// shutdown). History is written as it happens regardless.
    pub replay_save_ms: u64,
    /// Root under which relative media paths are resolved; none refuses media paths.
    pub media_root: Option<PathBuf>,
    /// Most open WebSocket connections in total.
    pub max_connections: usize,
    /// Most open WebSocket connections from one remote address.
    pub max_connections_per_address: usize,
    /// Frames queued for one connection before it counts as a slow consumer and is closed.
    pub outbound_queue: usize,
    /// WebSocket read buffer per connection, in bytes.
    pub read_buffer_bytes: usize,
}

/// Overrides given on the command line.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--host`.
    pub host: Option<String>,
    /// `--port`.
    pub port: Option<u16>,
    /// `--path`.
    pub path: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
}

/// The seed's environment variables and our token override, as read by the caller.
#[derive(Debug, Default, Clone)]
pub struct Environment {
    /// `WS_AUTH_ENABLED`.
    pub auth_enabled: Option<String>,
    /// `WS_AUTH_ENDPOINT`.
    pub auth_endpoint: Option<String>,
    /// `CLAWSOCKET_TOKEN`: a fixed token for the generated-token mode.
    pub token: Option<String>,
}

impl Environment {
    /// Reads the variables from the process environment.
    pub fn from_process() -> Environment {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Environment {
            auth_enabled: var("WS_AUTH_ENABLED"),
            auth_endpoint: var("WS_AUTH_ENDPOINT"),
            token: var("CLAWSOCKET_TOKEN"),
        }
    }
}

/// Reads a JSON or YAML file into a JSON value (YAML when the extension says so or JSON fails).
pub fn read_file(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let yaml_ext = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml") | Some("yml")
    );
    if !yaml_ext {
        match serde_json::from_str::<Value>(&text) {
            Ok(v) => return Ok(v),
            Err(e) if path.extension().and_then(|e| e.to_str()) == Some("json") => {
                return Err(format!("{}: not valid JSON: {e}", path.display()))
            }
            Err(_) => {}
        }
    }
    serde_norway::from_str::<Value>(&text)
        .map_err(|e| format!("{}: not valid YAML: {e}", path.display()))
}

/// Builds the settings from a decoded file (or none), flags and environment.
pub fn build(
    file: Option<&Value>,
    overrides: &Overrides,
    env: &Environment,
) -> Result<Settings, String> {
    let empty = Value::Object(Map::new());
    let doc = file.unwrap_or(&empty);
    let mut core = Config::from_value(doc, HOST_KEYS).map_err(|e| format!("config: {e}"))?;
    let (block, prefix) = websocket_block(doc);
    let auth_configured = block.is_some_and(|b| b.contains_key("auth"));
    core.apply_env(env.auth_enabled.as_deref(), env.auth_endpoint.as_deref())
        .map_err(|e| format!("environment: {e}"))?;
    if file.is_none() {
        // The seed binds every interface; with no config at all we stay on loopback.
        core.host = "127.0.0.1".to_owned();
    }
    if let Some(host) = &overrides.host {
        core.host = host.clone();
    }
    if let Some(port) = overrides.port {
        core.port = port;
    }
    if let Some(path) = &overrides.path {
        if !path.starts_with('/') {
            return Err(format!("--path: must start with /, got {path:?}"));
        }
        core.path = path.clone();
    }

    let auth = if !core.auth.enabled {
        AuthMode::Open
    } else if auth_configured || env.auth_enabled.is_some() || env.auth_endpoint.is_some() {
        AuthMode::External
    } else {
        // Secure by default: nothing said about auth, so a generated token guards the socket.
        core.auth.required = true;
        let token = match &env.token {
            Some(t) => t.clone(),
            None => random_token()?,
        };
        AuthMode::Generated(token)
    };

    let section = |name: &str| block.and_then(|b| b.get(name));
    let key = |rest: &str| format!("{prefix}{rest}");

    let mut store = Reader::new(section("store"), key("store"))?;
    let data_dir = match &overrides.data_dir {
        Some(d) => d.clone(),
        None => match store.string("dataDir")? {
            Some(d) => expand_home(&d),
            None => default_data_dir(),
        },
    };
    let replay_save_ms = store.uint("replaySaveMs", 0, 3_600_000)?.unwrap_or(1000);
    store.finish()?;

    let mut media = Reader::new(section("media"), key("media"))?;
    let media_root = media.string("root")?.map(|r| expand_home(&r));
    media.finish()?;

    let mut server = Reader::new(section("server"), key("server"))?;
    let max_connections = server
        .uint("maxConnections", 1, 10_000_000)?
        .unwrap_or(10_000) as usize;
    let max_connections_per_address = server
        .uint("maxConnectionsPerAddress", 1, 10_000_000)?
        .unwrap_or(10_000) as usize;
    let outbound_queue = server.uint("outboundQueue", 1, 1_000_000)?.unwrap_or(256) as usize;
    let read_buffer_bytes = server.uint("readBufferBytes", 128, 1 << 20)?.unwrap_or(256) as usize;
    server.finish()?;

    let mut agent = Reader::new(section("agent"), key("agent"))?;
    let backend = agent
        .string("backend")?
        .unwrap_or_else(|| "builtin".to_owned());
    let workspace = match agent.string("workspace")? {
        Some(w) => expand_home(&w),
        None => data_dir.join("workspace"),
    };
    let mut builtin = agent.section("builtin")?;
    let delay_ms = builtin.uint("delayMs", 0, 60_000)?.unwrap_or(25);
    builtin.finish()?;
    let mut stub = agent.section("stub")?;
    let stub_chunks = stub.uint("chunks", 1, 100_000)?.unwrap_or(20) as u32;
    let stub_text = stub
        .string("text")?
        .unwrap_or_else(|| "lorem ipsum ".to_owned());
    let stub_delay = stub.uint("delayMs", 0, 60_000)?.unwrap_or(0);
    stub.finish()?;
    let mut openai = agent.section("openai")?;
    let openai_settings = OpenAiSettings {
        base_url: openai
            .string("baseUrl")?
            .unwrap_or_else(|| "http://127.0.0.1:11434/v1".to_owned())
            .trim_end_matches('/')
            .to_owned(),
        model: openai
            .string("model")?
            .unwrap_or_else(|| "llama3.2".to_owned()),
        api_key_env: openai.string("apiKeyEnv")?,
        system_prompt: openai.string("systemPrompt")?,
        history_messages: openai.uint("historyMessages", 0, 10_000)?.unwrap_or(20) as usize,
    };
    if !openai_settings.base_url.starts_with("http://")
        && !openai_settings.base_url.starts_with("https://")
    {
        return Err(format!(
            "{}: expected an http:// or https:// URL",
            openai.key("baseUrl")
        ));
    }
    openai.finish()?;
    let mut exec = agent.section("exec")?;
    let command = exec.string_list("command")?;
    let timeout_ms = exec.uint("timeoutMs", 1, 86_400_000)?.unwrap_or(120_000);
    let exec_key = exec.key("command");
    exec.finish()?;
    let mut openclaw = agent.section("openclaw")?;
    let openclaw_settings = openclaw_section(&mut openclaw, &data_dir)?;
    openclaw.finish()?;
    let agent_settings = match backend.as_str() {
        "builtin" => AgentSettings::Builtin { delay_ms },
        "openclaw" => AgentSettings::OpenClaw(openclaw_settings),
        "openai" => AgentSettings::OpenAi(openai_settings),
        "stub" => AgentSettings::Stub {
            chunks: stub_chunks,
            text: stub_text,
            delay_ms: stub_delay,
        },
        "exec" => match command {
            Some(command) if !command.is_empty() => AgentSettings::Exec(ExecSettings {
                command,
                timeout_ms,
            }),
            _ => {
                return Err(format!(
                    "{exec_key}: required (a non-empty list) when agent.backend is exec"
                ))
            }
        },
        other => {
            return Err(format!(
                "{}: expected builtin, openai, exec, openclaw or stub, got {other:?}",
                agent.key("backend")
            ))
        }
    };
    agent.finish()?;

    Ok(Settings {
        core,
        auth,
        agent: agent_settings,
        workspace,
        data_dir,
        replay_save_ms,
        media_root,
        max_connections,
        max_connections_per_address,
        outbound_queue,
        read_buffer_bytes,
    })
}

/// `agent.openclaw`, read whatever the backend so that a typo is reported either way.
fn openclaw_section(s: &mut Reader<'_>, data_dir: &Path) -> Result<OpenClawSettings, String> {
    let url = s
        .string("url")?
        .unwrap_or_else(|| "ws://127.0.0.1:18789".to_owned());
    if !url.starts_with("ws://") && !url.starts_with("wss://") {
        return Err(format!("{}: expected a ws:// or wss:// URL", s.key("url")));
    }
    let mut sources = Vec::new();
    if let Some(v) = s.string("tokenEnv")? {
        sources.push(SecretSource::TokenEnv(v));
    }
    if let Some(v) = s.string("tokenFile")? {
        sources.push(SecretSource::TokenFile(expand_home(&v)));
    }
    if let Some(v) = s.string("passwordEnv")? {
        sources.push(SecretSource::PasswordEnv(v));
    }
    if let Some(v) = s.string("passwordFile")? {
        sources.push(SecretSource::PasswordFile(expand_home(&v)));
    }
    if sources.len() > 1 {
        return Err(format!(
            "{}: give only one of tokenEnv, tokenFile, passwordEnv, passwordFile",
            s.name
        ));
    }
    let agent_id = s.string("agentId")?.unwrap_or_else(|| "main".to_owned());
    if !valid_openclaw_agent_id(&agent_id) {
        return Err(format!(
            "{}: expected [a-z0-9][a-z0-9_-]{{0,63}}, got {agent_id:?}",
            s.key("agentId")
        ));
    }
    let device_key_file = match s.string("deviceKeyFile")? {
        Some(p) => expand_home(&p),
        None => data_dir.join("openclaw-device.json"),
    };
    Ok(OpenClawSettings {
        url,
        secret: sources.pop(),
        agent_id,
        device_key_file,
        request_timeout_ms: s
            .uint("requestTimeoutMs", 100, 3_600_000)?
            .unwrap_or(30_000),
        reconnect_wait_ms: s.uint("reconnectWaitMs", 0, 3_600_000)?.unwrap_or(10_000),
    })
}

/// OpenClaw's agent id rule: `[a-z0-9][a-z0-9_-]{0,63}`.
fn valid_openclaw_agent_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    (1..=64).contains(&bytes.len())
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

/// The `channels.websocket` block (or the whole document) and the key prefix for messages.
fn websocket_block(doc: &Value) -> (Option<&Map<String, Value>>, &'static str) {
    match doc.get("channels") {
        Some(channels) => (
            channels.get("websocket").and_then(Value::as_object),
            "channels.websocket.",
        ),
        None => (doc.as_object(), ""),
    }
}

/// `~/...` expanded with `$HOME`.
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ if path == "~" => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(path)),
        _ => PathBuf::from(path),
    }
}

/// `$XDG_DATA_HOME/clawsocket`, else `~/.local/share/clawsocket`, else `./clawsocket-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("clawsocket");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/clawsocket"),
        None => PathBuf::from("clawsocket-data"),
    }
}

/// 32 random bytes as hex, from the operating system.
pub fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| format!("cannot generate a token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Reads one of the host's sections, reporting wrong types and unknown keys by dotted name.
struct Reader<'a> {
    map: Option<&'a Map<String, Value>>,
    name: String,
    seen: Vec<&'static str>,
}

impl<'a> Reader<'a> {
    fn new(value: Option<&'a Value>, name: String) -> Result<Reader<'a>, String> {
        let map = match value {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err(format!("{name}: expected an object")),
        };
        Ok(Reader {
            map,
            name,
            seen: Vec::new(),
        })
    }

    fn key(&self, k: &str) -> String {
        format!("{}.{k}", self.name)
    }

    fn get(&mut self, k: &'static str) -> Option<&'a Value> {
        self.seen.push(k);
        self.map.and_then(|m| m.get(k)).filter(|v| !v.is_null())
    }

    fn string(&mut self, k: &'static str) -> Result<Option<String>, String> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{}: expected a string", self.key(k))),
        }
    }

    fn uint(&mut self, k: &'static str, min: u64, max: u64) -> Result<Option<u64>, String> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(format!(
                    "{}: expected an integer from {min} to {max}",
                    self.key(k)
                )),
            },
        }
    }

    fn string_list(&mut self, k: &'static str) -> Result<Option<Vec<String>>, String> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| format!("{}: expected a list of strings", self.key(k))),
            Some(_) => Err(format!("{}: expected a list of strings", self.key(k))),
        }
    }

    fn section(&mut self, k: &'static str) -> Result<Reader<'a>, String> {
        let name = self.key(k);
        Reader::new(self.get(k), name)
    }

    fn finish(self) -> Result<(), String> {
        if let Some(map) = self.map {
            if let Some(unknown) = map.keys().find(|k| !self.seen.contains(&k.as_str())) {
                return Err(format!("{}.{unknown}: unknown key", self.name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod openclaw_tests {
    use super::*;
    use serde_json::json;

    fn openclaw(section: Value) -> Result<OpenClawSettings, String> {
        let doc = json!({"auth": {"enabled": false},
            "agent": {"backend": "openclaw", "openclaw": section}});
        let overrides = Overrides {
            data_dir: Some(PathBuf::from("/data")),
            ..Overrides::default()
        };
        match build(Some(&doc), &overrides, &Environment::default())?.agent {
            AgentSettings::OpenClaw(s) => Ok(s),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_and_fields() {
        let s = openclaw(json!({})).unwrap();
        assert_eq!(s.url, "ws://127.0.0.1:18789");
        assert_eq!(s.agent_id, "main");
        assert_eq!(
            s.device_key_file,
            PathBuf::from("/data/openclaw-device.json")
        );
        assert_eq!(
            (s.request_timeout_ms, s.reconnect_wait_ms),
            (30_000, 10_000)
        );
        assert_eq!(s.secret, None);
        let s = openclaw(json!({"tokenEnv": "GW_TOKEN", "agentId": "ops_2"})).unwrap();
        assert_eq!(s.secret, Some(SecretSource::TokenEnv("GW_TOKEN".into())));
        assert_eq!(s.agent_id, "ops_2");
    }

    #[test]
    fn mistakes_are_named() {
        let err = openclaw(json!({"tokn": "x"})).unwrap_err();
        assert!(err.contains("agent.openclaw.tokn: unknown key"), "{err}");
        let err = openclaw(json!({"agentId": "Main"})).unwrap_err();
        assert!(err.contains("agent.openclaw.agentId"), "{err}");
        let err = openclaw(json!({"url": "http://x"})).unwrap_err();
        assert!(err.contains("agent.openclaw.url"), "{err}");
        let err = openclaw(json!({"tokenEnv": "A", "passwordFile": "/p"})).unwrap_err();
        assert!(err.contains("only one of"), "{err}");
    }
}
