//! Placeholder: replaced by the clawsocket-node work.
