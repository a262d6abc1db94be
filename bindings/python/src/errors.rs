//! Python exceptions for the core's error types. Each carries the core's stable `code`, so
//! Python code can match on `err.code` instead of parsing messages.

use clawsocket_core::{
    ClientError as CoreClientError, ConfigError as CoreConfigError, UsageError as CoreUsageError,
};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    _core,
    ClawsocketError,
    PyException,
    "Base class of every clawsocket error; `code` is the core's stable error code."
);
create_exception!(
    _core,
    UsageError,
    ClawsocketError,
    "The host misused the API (an unknown connection or turn id, ...)."
);
create_exception!(
    _core,
    ConfigError,
    ClawsocketError,
    "The configuration is invalid; `key` is the dotted path of the offending option."
);
create_exception!(
    _core,
    ClientError,
    ClawsocketError,
    "Client-side misuse (empty content) or a server frame the client cannot read."
);

/// Builds an exception of type `T` with `message` and the attributes `code` (and extra ones).
fn with_attributes<T: pyo3::PyTypeInfo>(message: String, attrs: &[(&str, &str)]) -> PyErr {
    Python::attach(|py| {
        let err = PyErr::new::<T, _>(message);
        let value = err.value(py);
        for (name, v) in attrs {
            // Setting an attribute on a fresh exception instance cannot fail.
            let _ = value.setattr(*name, *v);
        }
        err
    })
}

/// A core usage error as `UsageError`.
pub fn usage(err: CoreUsageError) -> PyErr {
    with_attributes::<UsageError>(err.to_string(), &[("code", err.as_str())])
}

/// A config error as `ConfigError` with `code = "invalid_config"`, `key` and `reason`.
pub fn config(err: CoreConfigError) -> PyErr {
    let text = err.to_string();
    with_attributes::<ConfigError>(
        text,
        &[
            ("code", "invalid_config"),
            ("key", &err.key),
            ("reason", &err.message),
        ],
    )
}

/// A client error as `ClientError`.
pub fn client(err: CoreClientError) -> PyErr {
    with_attributes::<ClientError>(err.to_string(), &[("code", err.as_str())])
}
