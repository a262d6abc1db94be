//! The server's outputs as Python objects: `Transmit` and one class per `Event` variant.
//! Every event keeps enough to rebuild the core's canonical JSON (`to_json()`), which is what
//! the shared vectors compare.

use clawsocket_core::{
    AgentProvision, CancelReason, ConnectionId, Event, MediaKind, Outcome, Payload,
    Transmit as CoreTransmit, Turn as CoreTurn, TurnId,
};
use pyo3::prelude::*;

use crate::json;

/// A frame or a close to write on one connection.
#[pyclass(frozen, module = "clawsocket._core", name = "Transmit")]
#[derive(Debug)]
pub struct Transmit {
    /// The connection to write to.
    #[pyo3(get)]
    connection: u64,
    /// The text frame, or `None` for a close.
    #[pyo3(get)]
    text: Option<String>,
    /// The close code, or `None` for a text frame.
    #[pyo3(get)]
    close_code: Option<u16>,
    /// The close reason, or `None` for a text frame.
    #[pyo3(get)]
    close_reason: Option<String>,
}

impl From<CoreTransmit> for Transmit {
    fn from(t: CoreTransmit) -> Transmit {
        let connection = t.connection.0;
        match t.payload {
            Payload::Text(text) => Transmit {
                connection,
                text: Some(text),
                close_code: None,
                close_reason: None,
            },
            Payload::Close { code, reason } => Transmit {
                connection,
                text: None,
                close_code: Some(code),
                close_reason: Some(reason),
            },
        }
    }
}

#[pymethods]
impl Transmit {
    /// Whether this is the closing handshake rather than a text frame.
    #[getter]
    fn is_close(&self) -> bool {
        self.close_code.is_some()
    }

    fn __repr__(&self) -> String {
        match (&self.text, self.close_code) {
            (Some(text), _) => format!("Transmit(connection={}, text={:?})", self.connection, text),
            (None, code) => format!(
                "Transmit(connection={}, close_code={}, close_reason={:?})",
                self.connection,
                code.unwrap_or(0),
                self.close_reason.as_deref().unwrap_or("")
            ),
        }
    }
}

/// Everything an agent needs to produce one reply.
#[pyclass(frozen, module = "clawsocket._core", name = "Turn")]
#[derive(Debug)]
pub struct Turn {
    pub inner: CoreTurn,
}

#[pymethods]
impl Turn {
    #[getter]
    fn id(&self) -> u64 {
        self.inner.id().0
    }
    #[getter]
    fn session_key(&self) -> &str {
        self.inner.session_key()
    }
    #[getter]
    fn agent_id(&self) -> &str {
        self.inner.agent_id()
    }
    #[getter]
    fn message_id(&self) -> &str {
        self.inner.message_id()
    }
    #[getter]
    fn chat_type(&self) -> &'static str {
        self.inner.chat_type().as_str()
    }
    #[getter]
    fn sender_id(&self) -> &str {
        self.inner.sender_id()
    }
    #[getter]
    fn sender_name(&self) -> Option<&str> {
        self.inner.sender_name()
    }
    #[getter]
    fn authenticated(&self) -> bool {
        self.inner.authenticated()
    }
    #[getter]
    fn group_id(&self) -> Option<&str> {
        self.inner.group_id()
    }
    #[getter]
    fn group_subject(&self) -> Option<&str> {
        self.inner.group_subject()
    }
    #[getter]
    fn body(&self) -> &str {
        self.inner.body()
    }
    #[getter]
    fn content(&self) -> &str {
        self.inner.content()
    }
    #[getter]
    fn reply_to_id(&self) -> Option<&str> {
        self.inner.reply_to_id()
    }
    #[getter]
    fn reply_to_body(&self) -> Option<&str> {
        self.inner.reply_to_body()
    }
    /// Accepted attachments as `(kind, location, mime_type)`, kind being `"url"` or `"path"`.
    #[getter]
    fn media(&self) -> Vec<(&'static str, String, Option<String>)> {
        self.inner
            .media()
            .iter()
            .map(|m| {
                let kind = match m.kind {
                    MediaKind::Url => "url",
                    MediaKind::Path => "path",
                };
                (kind, m.location.clone(), m.mime_type.clone())
            })
            .collect()
    }
    #[getter]
    fn custom_data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        optional_json(py, self.inner.custom_data())
    }
    #[getter]
    fn auth<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        optional_json(py, self.inner.auth())
    }
    #[getter]
    fn connection(&self) -> u64 {
        self.inner.connection().0
    }
    #[getter]
    fn received_at(&self) -> u64 {
        self.inner.received_at()
    }

    /// The canonical JSON form (the turn context handed to agents).
    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    fn __repr__(&self) -> String {
        format!(
            "Turn(id={}, session_key={:?}, message_id={:?})",
            self.inner.id().0,
            self.inner.session_key(),
            self.inner.message_id()
        )
    }
}

fn optional_json<'py>(
    py: Python<'py>,
    value: Option<&serde_json::Value>,
) -> PyResult<Bound<'py, PyAny>> {
    match value {
        Some(v) => json::to_python(py, v),
        None => Ok(py.None().into_bound(py)),
    }
}

/// POST `request` to the auth endpoint, then answer with `handle_auth_response` or
/// `handle_auth_unavailable`.
#[pyclass(frozen, module = "clawsocket._core", name = "VerifyToken")]
#[derive(Debug)]
pub struct VerifyToken {
    #[pyo3(get)]
    connection: u64,
    /// The JSON body to POST (it carries the token: never log it).
    #[pyo3(get)]
    request: String,
}

#[pymethods]
impl VerifyToken {
    #[getter]
    fn kind(&self) -> &'static str {
        "verify_token"
    }
    fn to_json(&self) -> String {
        Event::VerifyToken {
            connection: ConnectionId(self.connection),
            request: self.request.clone(),
        }
        .to_json()
    }
    fn __repr__(&self) -> String {
        format!(
            "VerifyToken(connection={}, request=<redacted>)",
            self.connection
        )
    }
}

/// Create the workspace of a new dynamic agent.
#[pyclass(frozen, module = "clawsocket._core", name = "ProvisionAgent")]
#[derive(Debug)]
pub struct ProvisionAgent {
    inner: AgentProvision,
}

#[pymethods]
impl ProvisionAgent {
    #[getter]
    fn kind(&self) -> &'static str {
        "provision_agent"
    }
    #[getter]
    fn agent_id(&self) -> &str {
        &self.inner.agent_id
    }
    #[getter]
    fn user_id(&self) -> &str {
        &self.inner.user_id
    }
    #[getter]
    fn user_name(&self) -> Option<&str> {
        self.inner.user_name.as_deref()
    }
    #[getter]
    fn auth<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        optional_json(py, self.inner.auth.as_ref())
    }
    fn to_json(&self) -> String {
        Event::ProvisionAgent(Box::new(self.inner.clone())).to_json()
    }
    fn __repr__(&self) -> String {
        format!("ProvisionAgent(agent_id={:?})", self.inner.agent_id)
    }
}

/// Run this turn on its agent and feed the output back with `handle_agent_*`.
#[pyclass(frozen, module = "clawsocket._core", name = "RunTurn")]
#[derive(Debug)]
pub struct RunTurn {
    #[pyo3(get)]
    turn: Py<Turn>,
}

#[pymethods]
impl RunTurn {
    #[getter]
    fn kind(&self) -> &'static str {
        "run_turn"
    }
    fn to_json(&self) -> String {
        Event::RunTurn(self.turn.get().inner.clone()).to_json()
    }
    fn __repr__(&self) -> String {
        format!("RunTurn(turn={})", self.turn.get().inner.id().0)
    }
}

/// Stop the agent of this turn; later output for it is ignored.
#[pyclass(frozen, module = "clawsocket._core", name = "CancelTurn")]
#[derive(Debug)]
pub struct CancelTurn {
    #[pyo3(get)]
    turn: u64,
    reason: CancelReason,
}

#[pymethods]
impl CancelTurn {
    #[getter]
    fn kind(&self) -> &'static str {
        "cancel_turn"
    }
    /// `requested`, `interrupted`, `timed_out` or `shutdown`.
    #[getter]
    fn reason(&self) -> &'static str {
        self.reason.as_str()
    }
    fn to_json(&self) -> String {
        Event::CancelTurn {
            turn: TurnId(self.turn),
            reason: self.reason,
        }
        .to_json()
    }
    fn __repr__(&self) -> String {
        format!(
            "CancelTurn(turn={}, reason={:?})",
            self.turn,
            self.reason.as_str()
        )
    }
}

/// A turn ended (for the host's history store).
#[pyclass(frozen, module = "clawsocket._core", name = "TurnFinished")]
#[derive(Debug)]
pub struct TurnFinished {
    #[pyo3(get)]
    turn: u64,
    #[pyo3(get)]
    session_key: String,
    #[pyo3(get)]
    message_id: String,
    outcome: Outcome,
    #[pyo3(get)]
    text: String,
}

#[pymethods]
impl TurnFinished {
    #[getter]
    fn kind(&self) -> &'static str {
        "turn_finished"
    }
    /// `completed`, `cancelled` or `failed`.
    #[getter]
    fn outcome(&self) -> &'static str {
        self.outcome.as_str()
    }
    fn to_json(&self) -> String {
        Event::TurnFinished {
            turn: TurnId(self.turn),
            session_key: self.session_key.clone(),
            message_id: self.message_id.clone(),
            outcome: self.outcome,
            text: self.text.clone(),
        }
        .to_json()
    }
    fn __repr__(&self) -> String {
        format!(
            "TurnFinished(turn={}, outcome={:?})",
            self.turn,
            self.outcome.as_str()
        )
    }
}

/// A sender needs operator approval (`dmPolicy: pairing`).
#[pyclass(frozen, module = "clawsocket._core", name = "PairingRequested")]
#[derive(Debug)]
pub struct PairingRequested {
    #[pyo3(get)]
    code: String,
    #[pyo3(get)]
    sender_id: String,
    #[pyo3(get)]
    sender_name: Option<String>,
}

#[pymethods]
impl PairingRequested {
    #[getter]
    fn kind(&self) -> &'static str {
        "pairing_requested"
    }
    fn to_json(&self) -> String {
        Event::PairingRequested {
            code: self.code.clone(),
            sender_id: self.sender_id.clone(),
            sender_name: self.sender_name.clone(),
        }
        .to_json()
    }
    fn __repr__(&self) -> String {
        format!(
            "PairingRequested(code={:?}, sender_id={:?})",
            self.code, self.sender_id
        )
    }
}

/// A pairing code was approved; the host may persist the sender.
#[pyclass(frozen, module = "clawsocket._core", name = "PairingApproved")]
#[derive(Debug)]
pub struct PairingApproved {
    #[pyo3(get)]
    code: String,
    #[pyo3(get)]
    sender_id: String,
}

#[pymethods]
impl PairingApproved {
    #[getter]
    fn kind(&self) -> &'static str {
        "pairing_approved"
    }
    fn to_json(&self) -> String {
        Event::PairingApproved {
            code: self.code.clone(),
            sender_id: self.sender_id.clone(),
        }
        .to_json()
    }
    fn __repr__(&self) -> String {
        format!(
            "PairingApproved(code={:?}, sender_id={:?})",
            self.code, self.sender_id
        )
    }
}

/// Fetch a page of a session's history and answer with `handle_history`.
#[pyclass(frozen, module = "clawsocket._core", name = "FetchHistory")]
#[derive(Debug)]
pub struct FetchHistory {
    #[pyo3(get)]
    request: u64,
    #[pyo3(get)]
    session_key: String,
    #[pyo3(get)]
    limit: u32,
    #[pyo3(get)]
    cursor: Option<String>,
}

#[pymethods]
impl FetchHistory {
    #[getter]
    fn kind(&self) -> &'static str {
        "fetch_history"
    }
    fn to_json(&self) -> String {
        Event::FetchHistory {
            request: self.request,
            session_key: self.session_key.clone(),
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
        .to_json()
    }
    fn __repr__(&self) -> String {
        format!(
            "FetchHistory(request={}, session_key={:?})",
            self.request, self.session_key
        )
    }
}

/// The core event as an instance of its Python class.
pub fn to_python(py: Python<'_>, event: Event) -> PyResult<Py<PyAny>> {
    Ok(match event {
        Event::VerifyToken {
            connection,
            request,
        } => Py::new(
            py,
            VerifyToken {
                connection: connection.0,
                request,
            },
        )?
        .into_any(),
        Event::ProvisionAgent(p) => Py::new(py, ProvisionAgent { inner: *p })?.into_any(),
        Event::RunTurn(turn) => {
            let turn = Py::new(py, Turn { inner: turn })?;
            Py::new(py, RunTurn { turn })?.into_any()
        }
        Event::CancelTurn { turn, reason } => Py::new(
            py,
            CancelTurn {
                turn: turn.0,
                reason,
            },
        )?
        .into_any(),
        Event::TurnFinished {
            turn,
            session_key,
            message_id,
            outcome,
            text,
        } => Py::new(
            py,
            TurnFinished {
                turn: turn.0,
                session_key,
                message_id,
                outcome,
                text,
            },
        )?
        .into_any(),
        Event::PairingRequested {
            code,
            sender_id,
            sender_name,
        } => Py::new(
            py,
            PairingRequested {
                code,
                sender_id,
                sender_name,
            },
        )?
        .into_any(),
        Event::PairingApproved { code, sender_id } => {
            Py::new(py, PairingApproved { code, sender_id })?.into_any()
        }
        Event::FetchHistory {
            request,
            session_key,
            limit,
            cursor,
        } => Py::new(
            py,
            FetchHistory {
                request,
                session_key,
                limit,
                cursor,
            },
        )?
        .into_any(),
    })
}
