//! Placeholder: replaced by the clawsocket-ffi work.
