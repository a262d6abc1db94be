//! Placeholder: the browser page's client core (issue 9).
