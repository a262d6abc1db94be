//! `clawsocket._core`: the clawsocket protocol core as a Python extension module.
//!
//! A thin adapter: every method converts its arguments, calls one core method and converts
//! the result. Protocol rules live in `clawsocket-core`; the pure-Python package `clawsocket`
//! (asyncio host and client) sits on top.

mod client;
mod config;
mod errors;
mod events;
mod json;
mod server;

use pyo3::prelude::*;

/// The clawsocket protocol core (Rust). Use the `clawsocket` package rather than this module.
#[pymodule(name = "_core")]
mod core_module {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::client::{
        Acked, Client, Closed, ErrorEvent, History, Partial, Ready, Reconnect, Reply, ResumeGap,
        Typing,
    };
    #[pymodule_export]
    use crate::config::Config;
    #[pymodule_export]
    use crate::errors::{ClawsocketError, ClientError, ConfigError, UsageError};
    #[pymodule_export]
    use crate::events::{
        CancelTurn, FetchHistory, PairingApproved, PairingRequested, ProvisionAgent, RunTurn,
        Transmit, Turn, TurnFinished, VerifyToken,
    };
    #[pymodule_export]
    use crate::server::{HistoryMessage, HistoryPage, Server};

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("PROTOCOL_VERSION", clawsocket_core::PROTOCOL_VERSION)?;
        m.add("CLOSE_AUTH", clawsocket_core::CLOSE_AUTH)?;
        m.add("CLOSE_TIMEOUT", clawsocket_core::CLOSE_TIMEOUT)?;
        m.add("CLOSE_GOING_AWAY", clawsocket_core::CLOSE_GOING_AWAY)?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        let codes: Vec<&str> = clawsocket_core::ErrorCode::ALL
            .iter()
            .map(|c| c.as_str())
            .collect();
        m.add("ERROR_CODES", codes)?;
        Ok(())
    }
}
