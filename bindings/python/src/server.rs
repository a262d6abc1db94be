//! `Server`: the core's server state machine, one Python method per core method.

use clawsocket_core::{
    ConnectionId, HistoryMessage as CoreHistoryMessage, HistoryPage as CoreHistoryPage,
    Server as CoreServer, TurnId,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

use crate::config::Config;
use crate::errors;
use crate::events::{self, Transmit};

/// One message of a history page, supplied by the host's store.
#[pyclass(frozen, module = "clawsocket._core", name = "HistoryMessage")]
#[derive(Debug, Clone)]
pub struct HistoryMessage {
    #[pyo3(get)]
    message_id: String,
    #[pyo3(get)]
    role: String,
    #[pyo3(get)]
    content: String,
    #[pyo3(get)]
    at: u64,
    #[pyo3(get)]
    sender_id: Option<String>,
    #[pyo3(get)]
    sender_name: Option<String>,
}

#[pymethods]
impl HistoryMessage {
    #[new]
    #[pyo3(signature = (message_id, role, content, at, sender_id = None, sender_name = None))]
    fn new(
        message_id: String,
        role: String,
        content: String,
        at: u64,
        sender_id: Option<String>,
        sender_name: Option<String>,
    ) -> HistoryMessage {
        HistoryMessage {
            message_id,
            role,
            content,
            at,
            sender_id,
            sender_name,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "HistoryMessage(message_id={:?}, role={:?})",
            self.message_id, self.role
        )
    }
}

/// A page of history, oldest message first.
#[pyclass(frozen, module = "clawsocket._core", name = "HistoryPage")]
#[derive(Debug)]
pub struct HistoryPage {
    #[pyo3(get)]
    messages: Vec<Py<HistoryMessage>>,
    #[pyo3(get)]
    next_cursor: Option<String>,
}

#[pymethods]
impl HistoryPage {
    #[new]
    #[pyo3(signature = (messages, next_cursor = None))]
    fn new(messages: Vec<Py<HistoryMessage>>, next_cursor: Option<String>) -> HistoryPage {
        HistoryPage {
            messages,
            next_cursor,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "HistoryPage(messages=<{}>, next_cursor={:?})",
            self.messages.len(),
            self.next_cursor
        )
    }
}

impl HistoryPage {
    fn to_core(&self) -> CoreHistoryPage {
        CoreHistoryPage {
            messages: self
                .messages
                .iter()
                .map(|m| {
                    let m = m.get();
                    CoreHistoryMessage {
                        message_id: m.message_id.clone(),
                        role: m.role.clone(),
                        sender_id: m.sender_id.clone(),
                        sender_name: m.sender_name.clone(),
                        content: m.content.clone(),
                        at: m.at,
                    }
                })
                .collect(),
            next_cursor: self.next_cursor.clone(),
        }
    }
}

/// The protocol's server side. Feed inputs with `handle_*` (each takes `now`, milliseconds
/// from the host's clock), then drain `poll_transmit`, `poll_event` and `poll_timeout`.
#[pyclass(module = "clawsocket._core", name = "Server")]
#[derive(Debug)]
pub struct Server {
    inner: CoreServer,
}

/// Frame data as bytes: `bytes` as is, `str` as its UTF-8.
fn with_data<R>(data: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    if let Ok(b) = data.cast::<PyBytes>() {
        return Ok(f(b.as_bytes()));
    }
    if let Ok(s) = data.cast::<PyString>() {
        return Ok(f(s.to_cow()?.as_bytes()));
    }
    Err(PyTypeError::new_err("frame data must be bytes or str"))
}

#[pymethods]
impl Server {
    /// A server configured by `config`: a `Config`, or JSON text (a whole OpenClaw-style file
    /// or just the `channels.websocket` block).
    #[new]
    fn new(config: &Bound<'_, PyAny>) -> PyResult<Server> {
        let config = if let Ok(c) = config.cast::<Config>() {
            c.borrow().inner.clone()
        } else if let Ok(text) = config.cast::<PyString>() {
            clawsocket_core::Config::from_json(&text.to_cow()?).map_err(errors::config)?
        } else {
            return Err(PyTypeError::new_err("config must be a Config or JSON text"));
        };
        Ok(Server {
            inner: CoreServer::new(config),
        })
    }

    /// The configuration in force.
    #[getter]
    fn config(&self) -> Config {
        Config {
            inner: self.inner.config().clone(),
        }
    }

    // ----- outputs -----

    /// The next frame or close to write, in order per connection.
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.inner.poll_transmit().map(Transmit::from)
    }

    /// Every pending transmit at once (one call instead of one per frame).
    fn poll_transmits<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        while let Some(t) = self.inner.poll_transmit() {
            list.append(Transmit::from(t))?;
        }
        Ok(list)
    }

    /// The next request for the host, in the order the core made it.
    fn poll_event(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.inner
            .poll_event()
            .map(|e| events::to_python(py, e))
            .transpose()
    }

    /// Every pending event at once.
    fn poll_events<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        while let Some(e) = self.inner.poll_event() {
            list.append(events::to_python(py, e)?)?;
        }
        Ok(list)
    }

    /// When `handle_timeout` should next be called, if anything is scheduled.
    fn poll_timeout(&self) -> Option<u64> {
        self.inner.poll_timeout()
    }

    // ----- observation -----

    fn connection_count(&self) -> usize {
        self.inner.connection_count()
    }

    fn session_count(&self) -> usize {
        self.inner.session_count()
    }

    fn turn_count(&self) -> usize {
        self.inner.turn_count()
    }

    /// Pairing requests waiting for an operator: `(code, sender_id, sender_name)`.
    fn pending_pairings(&self) -> Vec<(String, String, Option<String>)> {
        self.inner.pending_pairings()
    }

    // ----- inputs -----

    /// A WebSocket was accepted with this raw URL query; returns its connection id.
    fn handle_connect(&mut self, now: u64, query: &str) -> u64 {
        self.inner.handle_connect(now, query).0
    }

    /// The auth service answered with this HTTP status and body.
    fn handle_auth_response(
        &mut self,
        now: u64,
        connection: u64,
        status: u16,
        body: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        with_data(body, |b| {
            self.inner
                .handle_auth_response(now, ConnectionId(connection), status, b)
        })
    }

    /// The auth service could not be reached.
    fn handle_auth_unavailable(&mut self, now: u64, connection: u64) {
        self.inner
            .handle_auth_unavailable(now, ConnectionId(connection));
    }

    /// The socket is gone (replies keep running: a disconnect is not a cancel).
    fn handle_disconnect(&mut self, now: u64, connection: u64) -> PyResult<()> {
        self.inner
            .handle_disconnect(now, ConnectionId(connection))
            .map_err(errors::usage)
    }

    /// A text frame arrived (`bytes` as received, or `str`).
    fn handle_text(&mut self, now: u64, connection: u64, data: &Bound<'_, PyAny>) -> PyResult<()> {
        with_data(data, |b| {
            self.inner.handle_text(now, ConnectionId(connection), b)
        })?
        .map_err(errors::usage)
    }

    /// A binary frame arrived (refused with `binary_frame`; the connection stays usable).
    fn handle_binary(
        &mut self,
        now: u64,
        connection: u64,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        with_data(data, |b| {
            self.inner.handle_binary(now, ConnectionId(connection), b)
        })?
        .map_err(errors::usage)
    }

    /// Runs every deadline due at `now`.
    fn handle_timeout(&mut self, now: u64) {
        self.inner.handle_timeout(now);
    }

    /// Cancels every reply and closes every connection (1001).
    fn handle_shutdown(&mut self, now: u64) {
        self.inner.handle_shutdown(now);
    }

    /// The agent produced more text for `turn` (only the new part).
    fn handle_agent_delta(&mut self, now: u64, turn: u64, delta: &str) -> PyResult<()> {
        self.inner
            .handle_agent_delta(now, TurnId(turn), delta)
            .map_err(errors::usage)
    }

    /// The agent's whole text so far (for agents that stream cumulative text).
    fn handle_agent_text(&mut self, now: u64, turn: u64, text: &str) -> PyResult<()> {
        self.inner
            .handle_agent_text(now, TurnId(turn), text)
            .map_err(errors::usage)
    }

    /// The agent finished; `text` is the final reply (`None`: the streamed text).
    #[pyo3(signature = (now, turn, text = None))]
    fn handle_agent_final(&mut self, now: u64, turn: u64, text: Option<&str>) -> PyResult<()> {
        self.inner
            .handle_agent_final(now, TurnId(turn), text)
            .map_err(errors::usage)
    }

    /// The agent failed; the client gets `chat.error` with code `agent_error` and `message`.
    fn handle_agent_error(&mut self, now: u64, turn: u64, message: &str) -> PyResult<()> {
        self.inner
            .handle_agent_error(now, TurnId(turn), message)
            .map_err(errors::usage)
    }

    /// The answer to `FetchHistory`: a page, or (`error=`) a reason the client is told.
    #[pyo3(signature = (now, request, page = None, *, error = None))]
    fn handle_history(
        &mut self,
        now: u64,
        request: u64,
        page: Option<Py<HistoryPage>>,
        error: Option<&str>,
    ) -> PyResult<()> {
        let answer = match (page, error) {
            (Some(page), None) => Ok(page.get().to_core()),
            (None, Some(reason)) => Err(reason),
            _ => return Err(PyValueError::new_err("pass exactly one of page and error")),
        };
        self.inner
            .handle_history(now, request, answer)
            .map_err(errors::usage)
    }

    /// An operator approved a pairing code; returns the sender it admits.
    fn approve_pairing(&mut self, now: u64, code: &str) -> PyResult<String> {
        self.inner.approve_pairing(now, code).map_err(errors::usage)
    }

    /// Admits a sender under `dmPolicy: pairing` (restoring persisted approvals).
    fn allow_sender(&mut self, sender_id: &str) {
        self.inner.allow_sender(sender_id);
    }

    /// Records a dynamic agent the host already provisioned.
    fn restore_dynamic_agent(&mut self, agent_id: &str) {
        self.inner.restore_dynamic_agent(agent_id);
    }

    /// Every session's sequence counter and replay buffer as JSON, to persist.
    fn export_sessions(&self) -> String {
        self.inner.export_sessions()
    }

    /// Restores sessions exported by `export_sessions`.
    fn restore_sessions(&mut self, now: u64, exported: &str) -> PyResult<()> {
        self.inner
            .restore_sessions(now, exported)
            .map_err(errors::usage)
    }

    fn __repr__(&self) -> String {
        format!(
            "Server(connections={}, sessions={}, turns={})",
            self.inner.connection_count(),
            self.inner.session_count(),
            self.inner.turn_count()
        )
    }
}
