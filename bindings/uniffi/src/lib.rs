//! Placeholder: replaced by the clawsocket-uniffi work.
