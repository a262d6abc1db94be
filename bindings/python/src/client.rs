//! `Client`: the core's client state machine, plus one class per `ClientEvent` variant.

use clawsocket_core::{Client as CoreClient, ClientEvent, ClientOptions, SendOptions, StreamMode};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::{errors, json};

/// The server accepted the connection.
#[pyclass(frozen, module = "clawsocket._core", name = "Ready")]
#[derive(Debug)]
pub struct Ready {
    #[pyo3(get)]
    protocol: u8,
    #[pyo3(get)]
    sender_id: String,
    #[pyo3(get)]
    authenticated: bool,
    #[pyo3(get)]
    session_key: String,
    #[pyo3(get)]
    heartbeat_ms: u64,
}

/// A message was accepted (protocol 2).
#[pyclass(frozen, module = "clawsocket._core", name = "Acked")]
#[derive(Debug)]
pub struct Acked {
    #[pyo3(get)]
    message_id: String,
    #[pyo3(get)]
    duplicate: bool,
}

/// The agent is working on a message.
#[pyclass(frozen, module = "clawsocket._core", name = "Typing")]
#[derive(Debug)]
pub struct Typing {
    #[pyo3(get)]
    message_id: String,
    /// The message's session (protocol 2; `None` from seed servers).
    #[pyo3(get)]
    session_key: Option<String>,
}

/// More of a reply arrived; `text` is everything so far.
#[pyclass(frozen, module = "clawsocket._core", name = "Partial")]
#[derive(Debug)]
pub struct Partial {
    #[pyo3(get)]
    message_id: String,
    /// The reply's session (protocol 2; `None` from seed servers).
    #[pyo3(get)]
    session_key: Option<String>,
    #[pyo3(get)]
    text: String,
}

/// A reply is complete.
#[pyclass(frozen, module = "clawsocket._core", name = "Reply")]
#[derive(Debug)]
pub struct Reply {
    #[pyo3(get)]
    message_id: String,
    /// The reply's session (protocol 2; `None` from seed servers).
    #[pyo3(get)]
    session_key: Option<String>,
    #[pyo3(get)]
    text: String,
    #[pyo3(get)]
    cancelled: bool,
}

/// The server refused something or the agent failed (`ClientEvent::Error` in the core).
#[pyclass(frozen, module = "clawsocket._core", name = "ErrorEvent")]
#[derive(Debug)]
pub struct ErrorEvent {
    #[pyo3(get)]
    message_id: Option<String>,
    /// The session concerned, when the error belongs to one (protocol 2).
    #[pyo3(get)]
    session_key: Option<String>,
    /// The stable code as sent (also codes newer than this client); `None` from seed servers.
    #[pyo3(get)]
    code: Option<String>,
    /// Whether this client knows the code.
    #[pyo3(get)]
    known_code: bool,
    #[pyo3(get)]
    message: String,
    #[pyo3(get)]
    retryable: bool,
    #[pyo3(get)]
    retry_after_ms: Option<u64>,
}

/// A resume could not replay everything (fetch history to fill in).
#[pyclass(frozen, module = "clawsocket._core", name = "ResumeGap")]
#[derive(Debug)]
pub struct ResumeGap {
    #[pyo3(get)]
    session_key: String,
}

/// A history page arrived (the `chat.history` frame's JSON as sent).
#[pyclass(frozen, module = "clawsocket._core", name = "History")]
#[derive(Debug)]
pub struct History {
    #[pyo3(get)]
    frame: String,
}

/// The host should open a new socket now (and call `handle_open`).
#[pyclass(frozen, module = "clawsocket._core", name = "Reconnect")]
#[derive(Debug)]
pub struct Reconnect {
    #[pyo3(get)]
    attempt: u32,
}

/// The server closed the connection.
#[pyclass(frozen, module = "clawsocket._core", name = "Closed")]
#[derive(Debug)]
pub struct Closed {
    #[pyo3(get)]
    code: u16,
    #[pyo3(get)]
    reconnecting: bool,
}

macro_rules! kinds_and_reprs {
    ($($class:ident => $kind:literal, $fmt:literal, [$($field:ident),*];)*) => {$(
        #[pymethods]
        impl $class {
            #[getter]
            fn kind(&self) -> &'static str {
                $kind
            }
            fn __repr__(&self) -> String {
                format!($fmt, $(self.$field),*)
            }
        }
    )*};
}

kinds_and_reprs! {
    Ready => "ready", "Ready(protocol={}, sender_id={:?}, session_key={:?})", [protocol, sender_id, session_key];
    Acked => "acked", "Acked(message_id={:?}, duplicate={})", [message_id, duplicate];
    Typing => "typing", "Typing(message_id={:?})", [message_id];
    Partial => "partial", "Partial(message_id={:?}, text={:?})", [message_id, text];
    Reply => "reply", "Reply(message_id={:?}, text={:?}, cancelled={})", [message_id, text, cancelled];
    ErrorEvent => "error", "ErrorEvent(message_id={:?}, code={:?}, message={:?})", [message_id, code, message];
    ResumeGap => "resume_gap", "ResumeGap(session_key={:?})", [session_key];
    History => "history", "History(frame={:?})", [frame];
    Reconnect => "reconnect", "Reconnect(attempt={})", [attempt];
    Closed => "closed", "Closed(code={}, reconnecting={})", [code, reconnecting];
}

fn event_to_python(py: Python<'_>, event: ClientEvent) -> PyResult<Py<PyAny>> {
    Ok(match event {
        ClientEvent::Ready {
            protocol,
            sender_id,
            authenticated,
            session_key,
            heartbeat_ms,
        } => Py::new(
            py,
            Ready {
                protocol,
                sender_id,
                authenticated,
                session_key,
                heartbeat_ms,
            },
        )?
        .into_any(),
        ClientEvent::Acked {
            message_id,
            duplicate,
        } => Py::new(
            py,
            Acked {
                message_id,
                duplicate,
            },
        )?
        .into_any(),
        ClientEvent::Typing {
            message_id,
            session_key,
        } => Py::new(
            py,
            Typing {
                message_id,
                session_key,
            },
        )?
        .into_any(),
        ClientEvent::Partial {
            message_id,
            session_key,
            text,
        } => Py::new(
            py,
            Partial {
                message_id,
                session_key,
                text,
            },
        )?
        .into_any(),
        ClientEvent::Reply {
            message_id,
            session_key,
            text,
            cancelled,
        } => Py::new(
            py,
            Reply {
                message_id,
                session_key,
                text,
                cancelled,
            },
        )?
        .into_any(),
        ClientEvent::Error {
            message_id,
            session_key,
            code,
            code_text,
            message,
            retryable,
            retry_after_ms,
        } => Py::new(
            py,
            ErrorEvent {
                message_id,
                session_key,
                code: code_text,
                known_code: code.is_some(),
                message,
                retryable,
                retry_after_ms,
            },
        )?
        .into_any(),
        ClientEvent::ResumeGap { session_key } => {
            Py::new(py, ResumeGap { session_key })?.into_any()
        }
        ClientEvent::History { frame } => Py::new(py, History { frame })?.into_any(),
        ClientEvent::Reconnect { attempt } => Py::new(py, Reconnect { attempt })?.into_any(),
        ClientEvent::Closed { code, reconnecting } => {
            Py::new(py, Closed { code, reconnecting })?.into_any()
        }
    })
}

fn stream_mode(name: &str) -> PyResult<StreamMode> {
    match name {
        "delta" => Ok(StreamMode::Delta),
        "cumulative" => Ok(StreamMode::Cumulative),
        _ => Err(PyValueError::new_err(format!(
            "stream must be \"delta\" or \"cumulative\", got {name:?}"
        ))),
    }
}

/// The protocol's client side: builds `chat.send`, reads server frames, assembles streamed
/// replies and resumes after a reconnect. The first `poll_event` asks for a socket.
#[pyclass(module = "clawsocket._core", name = "Client")]
#[derive(Debug)]
pub struct Client {
    inner: CoreClient,
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (
        sender_id = None,
        sender_name = None,
        token = None,
        protocol = 2,
        stream = "delta",
        message_id_prefix = "c".to_owned(),
        reconnect_base_ms = 500,
        reconnect_max_ms = 30_000,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        sender_id: Option<String>,
        sender_name: Option<String>,
        token: Option<String>,
        protocol: u8,
        stream: &str,
        message_id_prefix: String,
        reconnect_base_ms: u64,
        reconnect_max_ms: u64,
    ) -> PyResult<Client> {
        let options = ClientOptions {
            sender_id,
            sender_name,
            token,
            protocol,
            stream: stream_mode(stream)?,
            message_id_prefix,
            reconnect_base_ms,
            reconnect_max_ms,
        };
        Ok(Client {
            inner: CoreClient::new(options),
        })
    }

    /// The URL query to connect with, percent-encoded.
    fn connect_query(&self) -> String {
        self.inner.connect_query()
    }

    /// Builds a `chat.send` frame, queues it and returns its message id. `media` holds
    /// `(reference, mime_type)` pairs; `custom_data` must be JSON-serialisable.
    #[pyo3(signature = (
        now,
        content,
        *,
        message_id = None,
        sender_id = None,
        sender_name = None,
        group_id = None,
        group_subject = None,
        reply_to_message_id = None,
        reply_to_body = None,
        media = Vec::new(),
        custom_data = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        now: u64,
        content: String,
        message_id: Option<String>,
        sender_id: Option<String>,
        sender_name: Option<String>,
        group_id: Option<String>,
        group_subject: Option<String>,
        reply_to_message_id: Option<String>,
        reply_to_body: Option<String>,
        media: Vec<(String, Option<String>)>,
        custom_data: Option<Bound<'_, PyDict>>,
    ) -> PyResult<String> {
        let custom_data = custom_data
            .map(|d| json::object_from_python(&d))
            .transpose()?;
        let message = SendOptions {
            content,
            message_id,
            sender_id,
            sender_name,
            group_id,
            group_subject,
            reply_to_message_id,
            reply_to_body,
            media,
            custom_data,
        };
        self.inner.send(now, &message).map_err(errors::client)
    }

    /// Asks the server to stop a running reply.
    #[pyo3(signature = (message_id = None))]
    fn cancel(&mut self, message_id: Option<&str>) {
        self.inner.cancel(message_id);
    }

    /// Asks for a page of a session's history (`None`: the connection's own session).
    #[pyo3(signature = (session_key = None, limit = 50, cursor = None))]
    fn request_history(&mut self, session_key: Option<&str>, limit: u32, cursor: Option<&str>) {
        self.inner.request_history(session_key, limit, cursor);
    }

    /// The socket is open.
    fn handle_open(&mut self, now: u64) {
        self.inner.handle_open(now);
    }

    /// The socket closed (or failed to open) with this close code.
    fn handle_close(&mut self, now: u64, code: u16) {
        self.inner.handle_close(now, code);
    }

    /// No more reconnects.
    fn stop(&mut self) {
        self.inner.stop();
    }

    /// A text frame from the server.
    fn handle_frame(&mut self, now: u64, text: &str) -> PyResult<()> {
        self.inner.handle_frame(now, text).map_err(errors::client)
    }

    /// Runs due timers (reconnect, heartbeat ping).
    fn handle_timeout(&mut self, now: u64) {
        self.inner.handle_timeout(now);
    }

    /// The next frame to write; `None` while the socket is down.
    fn poll_transmit(&mut self) -> Option<String> {
        self.inner.poll_transmit()
    }

    /// Every frame ready to write.
    fn poll_transmits(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.inner.poll_transmit()).collect()
    }

    /// The next thing the client learned.
    fn poll_event(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.inner
            .poll_event()
            .map(|e| event_to_python(py, e))
            .transpose()
    }

    /// Everything the client learned since the last call.
    fn poll_events<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        while let Some(e) = self.inner.poll_event() {
            list.append(event_to_python(py, e)?)?;
        }
        Ok(list)
    }

    /// When to call `handle_timeout`.
    fn poll_timeout(&self) -> Option<u64> {
        self.inner.poll_timeout()
    }

    /// Last seq seen per session, for hosts that persist it.
    fn last_seqs(&self) -> Vec<(String, u64)> {
        self.inner.last_seqs()
    }

    /// Restores a session's last seen seq.
    fn set_last_seq(&mut self, session_key: &str, seq: u64) {
        self.inner.set_last_seq(session_key, seq);
    }

    fn __repr__(&self) -> String {
        "Client()".to_owned()
    }
}
