//! `Config`: the parsed `channels.websocket` block, read-only from Python except for the
//! seed's environment overrides.

use clawsocket_core::Config as CoreConfig;
use pyo3::prelude::*;

use crate::errors;

/// The `channels.websocket` configuration (seed options plus clawsocket's).
#[pyclass(module = "clawsocket._core", name = "Config")]
#[derive(Debug, Clone)]
pub struct Config {
    pub inner: CoreConfig,
}

#[pymethods]
impl Config {
    /// The defaults (the seed's: auth enabled and required, port 18800, path /ws).
    #[new]
    fn new() -> Config {
        Config {
            inner: CoreConfig::default(),
        }
    }

    /// Parses a JSON config: a whole OpenClaw-style file or just the `channels.websocket`
    /// block. `host_keys` are top-level keys of the block that belong to the host and are
    /// skipped instead of refused.
    #[staticmethod]
    #[pyo3(signature = (text, host_keys = Vec::new()))]
    fn from_json(text: &str, host_keys: Vec<String>) -> PyResult<Config> {
        let keys: Vec<&str> = host_keys.iter().map(String::as_str).collect();
        CoreConfig::from_json_with_host_keys(text, &keys)
            .map(|inner| Config { inner })
            .map_err(errors::config)
    }

    /// Applies the seed's environment overrides (`WS_AUTH_ENABLED`, `WS_AUTH_ENDPOINT`); the
    /// caller passes the variables' values.
    #[pyo3(signature = (auth_enabled = None, auth_endpoint = None))]
    fn apply_env(
        &mut self,
        auth_enabled: Option<&str>,
        auth_endpoint: Option<&str>,
    ) -> PyResult<()> {
        self.inner
            .apply_env(auth_enabled, auth_endpoint)
            .map_err(errors::config)
    }

    #[getter]
    fn enabled(&self) -> bool {
        self.inner.enabled
    }
    #[getter]
    fn port(&self) -> u16 {
        self.inner.port
    }
    #[getter]
    fn host(&self) -> &str {
        &self.inner.host
    }
    #[getter]
    fn path(&self) -> &str {
        &self.inner.path
    }
    #[getter]
    fn auth_enabled(&self) -> bool {
        self.inner.auth.enabled
    }
    #[getter]
    fn auth_endpoint(&self) -> &str {
        &self.inner.auth.endpoint
    }
    #[getter]
    fn auth_timeout_ms(&self) -> u64 {
        self.inner.auth.timeout_ms
    }
    #[getter]
    fn auth_required(&self) -> bool {
        self.inner.auth.required
    }
    #[getter]
    fn dynamic_agents_enabled(&self) -> bool {
        self.inner.dynamic_agents.enabled
    }
    #[getter]
    fn workspace_template(&self) -> &str {
        &self.inner.dynamic_agents.workspace_template
    }
    #[getter]
    fn agent_dir_template(&self) -> &str {
        &self.inner.dynamic_agents.agent_dir_template
    }
    #[getter]
    fn max_agents(&self) -> Option<u32> {
        self.inner.dynamic_agents.max_agents
    }
    #[getter]
    fn dm_policy(&self) -> &'static str {
        self.inner.dm_policy.as_str()
    }
    #[getter]
    fn allow_from(&self) -> Vec<String> {
        self.inner.allow_from.clone()
    }
    #[getter]
    fn agent_id(&self) -> &str {
        &self.inner.agent_id
    }
    #[getter]
    fn text_chunk_limit(&self) -> usize {
        self.inner.text_chunk_limit
    }
    #[getter]
    fn greeting(&self) -> bool {
        self.inner.greeting
    }
    #[getter]
    fn busy_policy(&self) -> &'static str {
        self.inner.busy_policy.as_str()
    }
    #[getter]
    fn max_frame_bytes(&self) -> usize {
        self.inner.limits.max_frame_bytes
    }
    #[getter]
    fn max_content_chars(&self) -> usize {
        self.inner.limits.max_content_chars
    }
    #[getter]
    fn heartbeat_ms(&self) -> u64 {
        self.inner.timing.heartbeat_ms
    }
    #[getter]
    fn idle_timeout_ms(&self) -> u64 {
        self.inner.timing.idle_timeout_ms
    }
    #[getter]
    fn keepalive_ms(&self) -> u64 {
        self.inner.timing.keepalive_ms
    }
    #[getter]
    fn agent_timeout_ms(&self) -> u64 {
        self.inner.timing.agent_timeout_ms
    }

    fn __repr__(&self) -> String {
        format!(
            "Config(host={:?}, port={}, path={:?}, auth_enabled={})",
            self.inner.host,
            self.inner.port,
            self.inner.path,
            if self.inner.auth.enabled {
                "True"
            } else {
                "False"
            }
        )
    }
}
