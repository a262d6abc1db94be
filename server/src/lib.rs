//! Placeholder: replaced by the clawsocket-server work.
