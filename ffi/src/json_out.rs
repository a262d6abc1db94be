//! A compact JSON object writer with a fixed field order, for the client events' JSON.

/// Writes `{"event":"<kind>",...}` field by field.
#[derive(Debug)]
pub(crate) struct JsonObject {
    out: String,
}

impl JsonObject {
    pub(crate) fn event(kind: &str) -> JsonObject {
        JsonObject {
            out: String::from("{"),
        }
        .str("event", kind)
    }

    fn key(&mut self, key: &str) {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        self.push_string(key);
        self.out.push(':');
    }

    fn push_string(&mut self, s: &str) {
        // Serialising a str cannot fail.
        self.out
            .push_str(&serde_json::to_string(s).unwrap_or_default());
    }

    pub(crate) fn str(mut self, key: &str, value: &str) -> JsonObject {
        self.key(key);
        self.push_string(value);
        self
    }

    pub(crate) fn opt_str(self, key: &str, value: Option<&str>) -> JsonObject {
        match value {
            Some(v) => self.str(key, v),
            None => self,
        }
    }

    pub(crate) fn u64(mut self, key: &str, value: u64) -> JsonObject {
        self.key(key);
        self.out.push_str(&value.to_string());
        self
    }

    pub(crate) fn opt_u64(self, key: &str, value: Option<u64>) -> JsonObject {
        match value {
            Some(v) => self.u64(key, v),
            None => self,
        }
    }

    pub(crate) fn bool(mut self, key: &str, value: bool) -> JsonObject {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
        self
    }

    /// A value that is already JSON text.
    pub(crate) fn raw(mut self, key: &str, json: &str) -> JsonObject {
        self.key(key);
        self.out.push_str(json);
        self
    }

    pub(crate) fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}
