//! Parsing client frames without trusting them.
//!
//! A frame is read in one pass into [`RawFrame`]: every known field is captured whatever its
//! JSON type, so that a wrong type becomes a precise `invalid_field` error naming the field
//! instead of a generic parse failure. Unknown fields are ignored (the protocol is additive).
//! Strings borrow from the input when they carry no escapes.

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Number, Value};

/// A JSON value captured without committing to a type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Loose<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    Array(Vec<Value>),
    Object(Map<alloc::string::String, Value>),
}

impl<'de> Deserialize<'de> for Loose<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Loose::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Loose::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Loose::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Loose::Number(v.into()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Loose::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Number::from_f64(v).map_or(Loose::Null, Loose::Number))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v.into())))
    }
    fn visit_string<E>(self, v: alloc::string::String) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Vec::<Value>::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Loose::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Map::deserialize(de::value::MapAccessDeserializer::new(map)).map(Loose::Object)
    }
}

/// Every field any client frame may carry, captured loosely. Field names are the wire names.
#[derive(Debug, Default)]
pub(crate) struct RawFrame<'a> {
    /// False when the JSON document is not an object at all.
    pub is_object: bool,
    pub kind: Option<Loose<'a>>,
    pub content: Option<Loose<'a>>,
    pub message_id: Option<Loose<'a>>,
    pub sender_id: Option<Loose<'a>>,
    pub sender_name: Option<Loose<'a>>,
    pub chat_type: Option<Loose<'a>>,
    pub group_id: Option<Loose<'a>>,
    pub group_subject: Option<Loose<'a>>,
    pub reply_to_message_id: Option<Loose<'a>>,
    pub reply_to_body: Option<Loose<'a>>,
    pub media_path: Option<Loose<'a>>,
    pub media_type: Option<Loose<'a>>,
    pub media_paths: Option<Loose<'a>>,
    pub media_types: Option<Loose<'a>>,
    pub custom_data: Option<Loose<'a>>,
    // Version 2 fields.
    pub protocol: Option<Loose<'a>>,
    pub stream: Option<Loose<'a>>,
    pub last_seq: Option<Loose<'a>>,
    pub session_key: Option<Loose<'a>>,
    pub limit: Option<Loose<'a>>,
    pub cursor: Option<Loose<'a>>,
    pub id: Option<Loose<'a>>,
}

impl<'de> Deserialize<'de> for RawFrame<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawFrameVisitor)
    }
}

struct RawFrameVisitor;

impl<'de> Visitor<'de> for RawFrameVisitor {
    type Value = RawFrame<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON document")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(RawFrame::default())
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(RawFrame::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(RawFrame::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(RawFrame::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(RawFrame::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(RawFrame::default())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(RawFrame::default())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut frame = RawFrame {
            is_object: true,
            ..RawFrame::default()
        };
        while let Some(key) = map.next_key::<Key>()? {
            let slot = match key {
                Key::Type => &mut frame.kind,
                Key::Content => &mut frame.content,
                Key::MessageId => &mut frame.message_id,
                Key::SenderId => &mut frame.sender_id,
                Key::SenderName => &mut frame.sender_name,
                Key::ChatType => &mut frame.chat_type,
                Key::GroupId => &mut frame.group_id,
                Key::GroupSubject => &mut frame.group_subject,
                Key::ReplyToMessageId => &mut frame.reply_to_message_id,
                Key::ReplyToBody => &mut frame.reply_to_body,
                Key::MediaPath => &mut frame.media_path,
                Key::MediaType => &mut frame.media_type,
                Key::MediaPaths => &mut frame.media_paths,
                Key::MediaTypes => &mut frame.media_types,
                Key::CustomData => &mut frame.custom_data,
                Key::Protocol => &mut frame.protocol,
                Key::Stream => &mut frame.stream,
                Key::LastSeq => &mut frame.last_seq,
                Key::Session => &mut frame.session_key,
                Key::Limit => &mut frame.limit,
                Key::Cursor => &mut frame.cursor,
                Key::Id => &mut frame.id,
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = Some(map.next_value::<Loose<'de>>()?);
        }
        Ok(frame)
    }
}

/// A known field name, matched without allocating (keys with escapes are matched too).
#[derive(Clone, Copy)]
enum Key {
    Type,
    Content,
    MessageId,
    SenderId,
    SenderName,
    ChatType,
    GroupId,
    GroupSubject,
    ReplyToMessageId,
    ReplyToBody,
    MediaPath,
    MediaType,
    MediaPaths,
    MediaTypes,
    CustomData,
    Protocol,
    Stream,
    LastSeq,
    Session,
    Limit,
    Cursor,
    Id,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, key: &str) -> Result<Key, E> {
        Ok(match key {
            "type" => Key::Type,
            "content" => Key::Content,
            "messageId" => Key::MessageId,
            "senderId" => Key::SenderId,
            "senderName" => Key::SenderName,
            "chatType" => Key::ChatType,
            "groupId" => Key::GroupId,
            "groupSubject" => Key::GroupSubject,
            "replyToMessageId" => Key::ReplyToMessageId,
            "replyToBody" => Key::ReplyToBody,
            "mediaPath" => Key::MediaPath,
            "mediaType" => Key::MediaType,
            "mediaPaths" => Key::MediaPaths,
            "mediaTypes" => Key::MediaTypes,
            "customData" => Key::CustomData,
            "protocol" => Key::Protocol,
            "stream" => Key::Stream,
            "lastSeq" => Key::LastSeq,
            "sessionKey" => Key::Session,
            "limit" => Key::Limit,
            "cursor" => Key::Cursor,
            "id" => Key::Id,
            _ => Key::Other,
        })
    }
}

/// Parses a text frame. `Err` only for text that is not JSON.
pub(crate) fn parse(text: &str) -> Result<RawFrame<'_>, serde_json::Error> {
    serde_json::from_str(text)
}

/// A field that is absent, `null`, or present with an unusable type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub field: &'static str,
    pub expected: &'static str,
}

/// Reads an optional string field; `null` counts as absent.
pub(crate) fn opt_str<'s, 'a>(
    value: &'s Option<Loose<'a>>,
    field: &'static str,
) -> Result<Option<&'s str>, FieldError> {
    match value {
        None | Some(Loose::Null) => Ok(None),
        Some(Loose::Str(s)) => Ok(Some(s.as_ref())),
        Some(_) => Err(FieldError {
            field,
            expected: "a string",
        }),
    }
}

/// Reads an optional string field where the empty string also counts as absent (the seed
/// treats every falsy value as "not given").
pub(crate) fn opt_nonempty_str<'s, 'a>(
    value: &'s Option<Loose<'a>>,
    field: &'static str,
) -> Result<Option<&'s str>, FieldError> {
    Ok(opt_str(value, field)?.filter(|s| !s.is_empty()))
}

/// Reads an optional non-negative integer field.
pub(crate) fn opt_u64(
    value: &Option<Loose<'_>>,
    field: &'static str,
) -> Result<Option<u64>, FieldError> {
    match value {
        None | Some(Loose::Null) => Ok(None),
        Some(Loose::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
        Some(_) => Err(FieldError {
            field,
            expected: "a non-negative whole number",
        }),
    }
}

/// Reads an optional list of strings.
pub(crate) fn opt_str_list<'s>(
    value: &'s Option<Loose<'_>>,
    field: &'static str,
) -> Result<Option<Vec<&'s str>>, FieldError> {
    let err = FieldError {
        field,
        expected: "a list of strings",
    };
    match value {
        None | Some(Loose::Null) => Ok(None),
        Some(Loose::Array(items)) => items
            .iter()
            .map(|v| v.as_str().ok_or(err))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_fields_of_any_type() {
        let f =
            parse(r#"{"type":"chat.send","content":5,"extra":[1,{"a":2}],"customData":{"k":"v"}}"#)
                .unwrap();
        assert!(f.is_object);
        assert_eq!(f.kind, Some(Loose::Str("chat.send".into())));
        assert!(matches!(f.content, Some(Loose::Number(_))));
        assert!(matches!(f.custom_data, Some(Loose::Object(_))));
        assert_eq!(opt_str(&f.content, "content").unwrap_err().field, "content");
    }

    #[test]
    fn non_objects_and_garbage() {
        assert!(!parse("[1,2]").unwrap().is_object);
        assert!(!parse("\"chat.send\"").unwrap().is_object);
        assert!(!parse("null").unwrap().is_object);
        assert!(parse("{\"type\":").is_err());
        assert!(parse("{} x").is_err());
        let deep = "[".repeat(10_000);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn escaped_strings_are_owned_plain_ones_borrowed() {
        let f = parse(r#"{"content":"a\nb","senderId":"u1"}"#).unwrap();
        assert!(matches!(f.content, Some(Loose::Str(Cow::Owned(ref s))) if s == "a\nb"));
        assert!(matches!(f.sender_id, Some(Loose::Str(Cow::Borrowed("u1")))));
    }
}
