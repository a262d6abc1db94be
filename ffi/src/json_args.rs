//! JSON arguments from C (client options, send options, history pages) turned into core types.
//! Strict: unknown keys and wrong types are refused with the key's name, so a typo in a C host
//! fails loudly instead of being ignored.

use clawsocket_core::{ClientOptions, HistoryMessage, HistoryPage, SendOptions, StreamMode};
use serde_json::{Map, Value};

use crate::guard::Failure;
use crate::result::ClawsocketResult::CLAWSOCKET_INVALID_ARGUMENT;

fn invalid(key: &str, message: &str) -> Failure {
    Failure::keyed(CLAWSOCKET_INVALID_ARGUMENT, key, message)
}

fn object<'v>(value: &'v Value, key: &str) -> Result<&'v Map<String, Value>, Failure> {
    value
        .as_object()
        .ok_or_else(|| invalid(key, "expected an object"))
}

fn parse(text: &str) -> Result<Value, Failure> {
    serde_json::from_str(text).map_err(|e| invalid("", &format!("not valid JSON: {e}")))
}

/// Reads the fields of one object, refusing keys nobody asked for.
struct Fields<'v> {
    map: &'v Map<String, Value>,
    prefix: String,
    seen: Vec<&'v str>,
}

impl<'v> Fields<'v> {
    fn new(value: &'v Value, prefix: &str) -> Result<Fields<'v>, Failure> {
        Ok(Fields {
            map: object(value, prefix)?,
            prefix: prefix.to_owned(),
            seen: Vec::new(),
        })
    }

    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{}", self.prefix, name)
        }
    }

    fn get(&mut self, name: &str) -> Option<&'v Value> {
        let (k, v) = self.map.get_key_value(name)?;
        self.seen.push(k.as_str());
        Some(v).filter(|v| !v.is_null())
    }

    fn string(&mut self, name: &str) -> Result<Option<String>, Failure> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(&self.key(name), "expected a string")),
        }
    }

    fn required_string(&mut self, name: &str) -> Result<String, Failure> {
        self.string(name)?
            .ok_or_else(|| invalid(&self.key(name), "required"))
    }

    fn uint(&mut self, name: &str) -> Result<Option<u64>, Failure> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| invalid(&self.key(name), "expected a whole number")),
        }
    }

    fn finish(self) -> Result<(), Failure> {
        match self.map.keys().find(|k| !self.seen.contains(&k.as_str())) {
            Some(k) => Err(invalid(&self.key(k), "unknown option")),
            None => Ok(()),
        }
    }
}

/// `{"messages":[{"messageId","role","senderId"?,"senderName"?,"content","at"}],"nextCursor"?}`
pub(crate) fn history_page(text: &str) -> Result<HistoryPage, Failure> {
    let value = parse(text)?;
    let mut page = Fields::new(&value, "")?;
    let messages = match page.get("messages") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let mut m = Fields::new(item, &format!("messages[{i}]"))?;
                let message = HistoryMessage {
                    message_id: m.required_string("messageId")?,
                    role: m.required_string("role")?,
                    sender_id: m.string("senderId")?,
                    sender_name: m.string("senderName")?,
                    content: m.required_string("content")?,
                    at: m
                        .uint("at")?
                        .ok_or_else(|| invalid(&m.key("at"), "required"))?,
                };
                m.finish()?;
                Ok(message)
            })
            .collect::<Result<_, Failure>>()?,
        Some(_) => return Err(invalid("messages", "expected a list")),
    };
    let next_cursor = page.string("nextCursor")?;
    page.finish()?;
    Ok(HistoryPage {
        messages,
        next_cursor,
    })
}

/// `{"senderId","senderName","token","protocol":1|2,"stream":"delta"|"cumulative",
/// "messageIdPrefix","reconnectBaseMs","reconnectMaxMs"}`, every key optional.
pub(crate) fn client_options(text: &str) -> Result<ClientOptions, Failure> {
    let value = parse(text)?;
    let mut f = Fields::new(&value, "")?;
    let mut options = ClientOptions {
        sender_id: f.string("senderId")?,
        sender_name: f.string("senderName")?,
        token: f.string("token")?,
        ..ClientOptions::default()
    };
    if let Some(p) = f.uint("protocol")? {
        options.protocol = match p {
            1 => 1,
            2 => 2,
            _ => return Err(invalid("protocol", "expected 1 or 2")),
        };
    }
    if let Some(s) = f.string("stream")? {
        options.stream = match s.as_str() {
            "delta" => StreamMode::Delta,
            "cumulative" => StreamMode::Cumulative,
            _ => return Err(invalid("stream", "expected \"delta\" or \"cumulative\"")),
        };
    }
    if let Some(p) = f.string("messageIdPrefix")? {
        options.message_id_prefix = p;
    }
    if let Some(ms) = f.uint("reconnectBaseMs")? {
        options.reconnect_base_ms = ms;
    }
    if let Some(ms) = f.uint("reconnectMaxMs")? {
        options.reconnect_max_ms = ms;
    }
    f.finish()?;
    Ok(options)
}

/// `{"content", "messageId", "senderId", "senderName", "groupId", "groupSubject",
/// "replyToMessageId", "replyToBody", "media":[{"path","mimeType"?}], "customData":{...}}`;
/// only `content` is required.
pub(crate) fn send_options(text: &str) -> Result<SendOptions, Failure> {
    let value = parse(text)?;
    let mut f = Fields::new(&value, "")?;
    let media = match f.get("media") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let mut m = Fields::new(item, &format!("media[{i}]"))?;
                let path = m.required_string("path")?;
                let mime_type = m.string("mimeType")?;
                m.finish()?;
                Ok((path, mime_type))
            })
            .collect::<Result<_, Failure>>()?,
        Some(_) => return Err(invalid("media", "expected a list")),
    };
    let custom_data = match f.get("customData") {
        None => None,
        Some(Value::Object(map)) => Some(map.clone()),
        Some(_) => return Err(invalid("customData", "expected an object")),
    };
    let options = SendOptions {
        content: f.required_string("content")?,
        message_id: f.string("messageId")?,
        sender_id: f.string("senderId")?,
        sender_name: f.string("senderName")?,
        group_id: f.string("groupId")?,
        group_subject: f.string("groupSubject")?,
        reply_to_message_id: f.string("replyToMessageId")?,
        reply_to_body: f.string("replyToBody")?,
        media,
        custom_data,
    };
    f.finish()?;
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_page_reads_every_field() {
        let page = history_page(
            r#"{"messages":[{"messageId":"m1","role":"user","senderId":"u","content":"hi","at":5}],"nextCursor":"c"}"#,
        )
        .unwrap();
        assert_eq!(page.messages[0].message_id, "m1");
        assert_eq!(page.messages[0].sender_name, None);
        assert_eq!(page.messages[0].at, 5);
        assert_eq!(page.next_cursor.as_deref(), Some("c"));
    }

    #[test]
    fn errors_name_the_key() {
        let err = history_page(r#"{"messages":[{"messageId":"m1","role":"user","content":"hi"}]}"#)
            .unwrap_err();
        assert_eq!(err.key.as_deref(), Some("messages[0].at"));
        let err = client_options(r#"{"protocl":2}"#).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("protocl"));
        let err = send_options(r#"{"content":"x","media":[{"path":1}]}"#).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("media[0].path"));
        let err = send_options(r#"{"messageId":"x"}"#).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("content"));
        assert!(send_options("not json").is_err());
    }

    #[test]
    fn options_have_core_defaults() {
        assert_eq!(client_options("{}").unwrap(), ClientOptions::default());
        let send = send_options(r#"{"content":"hi","customData":{"a":1}}"#).unwrap();
        assert_eq!(send.content, "hi");
        assert!(send.custom_data.is_some());
    }
}
