//! Placeholder: replaced by the clawsocket-python work.
