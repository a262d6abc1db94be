//! Parsing client frames without trusting them.
//!
//! A frame is read in one pass into [`RawFrame`]: every known field is captured whatever its
//! JSON type, so that a wrong type becomes a precise `invalid_field` error naming the field
//! instead of a generic parse failure. Unknown fields are ignored (the protocol is additive).
//! Strings borrow from the input when they carry no escapes.

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Number, Value};

mod flat;

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

/// The known fields a client frame carries, captured loosely.
///
/// Strings without escapes (nearly every value) are kept as slices of the frame; any other
/// value is kept as [`Loose`]. Only the fields present cost anything, to store or to drop (a
/// repeated key keeps its last value, as serde_json does), and asking for an absent field is
/// one bit test. The capacity covers every known key: no frame can overflow it.
#[derive(Debug)]
pub(crate) struct RawFrame<'a> {
    /// False when the JSON document is not an object at all.
    pub is_object: bool,
    /// Bit `key as u32` is set when the frame has that key.
    present: u32,
    /// Of those, the keys whose value is in `strs` (the others are in `others`).
    in_strs: u32,
    strs: heapless::Vec<(&'a str, Key), STR_SLOTS>,
    others: heapless::Vec<(Key, Loose<'a>), { Key::COUNT }>,
}

impl Default for RawFrame<'_> {
    #[inline]
    fn default() -> Self {
        RawFrame {
            is_object: false,
            present: 0,
            in_strs: 0,
            strs: heapless::Vec::new(),
            others: heapless::Vec::new(),
        }
    }
}

/// Plain strings a frame keeps as slices (a frame has a handful; more go with the others).
const STR_SLOTS: usize = 8;

/// One field's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Field<'f, 'a> {
    Str(&'f str),
    Other(&'f Loose<'a>),
}

impl<'a> RawFrame<'a> {
    /// The value of `key`, if the frame has it.
    #[inline]
    pub(crate) fn get(&self, key: Key) -> Option<Field<'_, 'a>> {
        let bit = key.bit();
        if self.present & bit == 0 {
            return None;
        }
        if self.in_strs & bit != 0 {
            return self
                .strs
                .iter()
                .find(|(_, k)| *k == key)
                .map(|(s, _)| Field::Str(s));
        }
        self.others
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, value)| Field::Other(value))
    }

    /// Whether the frame has any of the keys whose bits are in `keys`.
    #[inline]
    pub(crate) fn has_any(&self, keys: u32) -> bool {
        self.present & keys != 0
    }

    /// Reads an optional string field; `null` counts as absent.
    #[inline]
    pub(crate) fn str(&self, key: Key) -> Result<Option<&str>, FieldError> {
        match self.get(key) {
            None | Some(Field::Other(Loose::Null)) => Ok(None),
            Some(Field::Str(s)) => Ok(Some(s)),
            Some(Field::Other(Loose::Str(s))) => Ok(Some(s.as_ref())),
            Some(Field::Other(_)) => Err(key.error("a string")),
        }
    }

    /// Reads an optional string field where the empty string also counts as absent (the seed
    /// treats every falsy value as "not given").
    #[inline]
    pub(crate) fn nonempty_str(&self, key: Key) -> Result<Option<&str>, FieldError> {
        Ok(self.str(key)?.filter(|s| !s.is_empty()))
    }

    /// Reads an optional non-negative integer field.
    #[inline]
    pub(crate) fn u64(&self, key: Key) -> Result<Option<u64>, FieldError> {
        match self.get(key) {
            None | Some(Field::Other(Loose::Null)) => Ok(None),
            Some(Field::Other(Loose::Number(n))) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(_) => Err(key.error("a non-negative whole number")),
        }
    }

    /// Reads an optional list of strings.
    #[inline]
    pub(crate) fn str_list(&self, key: Key) -> Result<Option<Vec<&str>>, FieldError> {
        match self.get(key) {
            None | Some(Field::Other(Loose::Null)) => Ok(None),
            Some(Field::Other(value)) => str_list(key, value).map(Some),
            Some(Field::Str(_)) => Err(key.error("a list of strings")),
        }
    }

    /// Stores a string without escapes; false when the frame already holds as many as it
    /// keeps this way (the value then goes with the others).
    #[inline(always)]
    fn set_str(&mut self, key: Key, value: &'a str) -> bool {
        let bit = key.bit();
        if self.in_strs & bit != 0 {
            if let Some((old, _)) = self.strs.iter_mut().find(|(_, k)| *k == key) {
                *old = value;
            }
            return true;
        }
        if bit == 0 {
            return true; // `Other`: never stored
        }
        if self.strs.push((value, key)).is_err() {
            return false;
        }
        self.present |= bit;
        self.in_strs |= bit;
        true
    }

    fn set(&mut self, key: Key, value: Loose<'a>) {
        if key == Key::Other {
            return;
        }
        let value = match value {
            Loose::Str(Cow::Borrowed(s)) if self.set_str(key, s) => return,
            value => value,
        };
        if self.in_strs & key.bit() != 0 {
            self.in_strs &= !key.bit();
            self.strs.retain(|(_, k)| *k != key);
        }
        self.present |= key.bit();
        match self.others.iter_mut().find(|(k, _)| *k == key) {
            Some((_, old)) => *old = value,
            // Cannot fail: one place per known key, and a key is never stored twice.
            None => {
                let _ = self.others.push((key, value));
            }
        }
    }
}

impl PartialEq for RawFrame<'_> {
    /// Frames are equal when they hold the same fields, however they are stored.
    fn eq(&self, other: &Self) -> bool {
        fn value<'f>(frame: &'f RawFrame<'_>, key: Key) -> Option<Loose<'f>> {
            match frame.get(key)? {
                Field::Str(s) => Some(Loose::Str(Cow::Borrowed(s))),
                Field::Other(Loose::Str(s)) => Some(Loose::Str(Cow::Borrowed(s))),
                Field::Other(v) => Some(v.clone()),
            }
        }
        self.is_object == other.is_object
            && self.present == other.present
            && KEYS
                .iter()
                .all(|(key, _)| value(self, *key) == value(other, *key))
    }
}

fn str_list<'v>(key: Key, value: &'v Loose<'_>) -> Result<Vec<&'v str>, FieldError> {
    match value {
        Loose::Array(items) => items
            .iter()
            .map(|v| v.as_str().ok_or(key.error("a list of strings")))
            .collect(),
        _ => Err(key.error("a list of strings")),
    }
}

/// Fills a [`RawFrame`] in place: the frame is large, and moving it through serde's return
/// values would copy it several times per message.
struct FrameSeed<'f, 'a>(&'f mut RawFrame<'a>);

impl<'de> DeserializeSeed<'de> for FrameSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FrameSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON document")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let frame = self.0;
        frame.is_object = true;
        while let Some(key) = map.next_key::<Key>()? {
            if key == Key::Other {
                map.next_value::<IgnoredAny>()?;
            } else {
                let value = map.next_value::<Loose<'de>>()?;
                frame.set(key, value);
            }
        }
        Ok(())
    }
}

/// A known field name, matched without allocating (keys with escapes are matched too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
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
    // Version 2 fields.
    Protocol,
    Stream,
    LastSeq,
    Session,
    Limit,
    Cursor,
    Id,
    /// Any other key: ignored (the protocol is additive).
    Other,
}

/// Every key with its wire name (`Other` excluded).
const KEYS: [(Key, &str); Key::COUNT] = [
    (Key::Type, "type"),
    (Key::Content, "content"),
    (Key::MessageId, "messageId"),
    (Key::SenderId, "senderId"),
    (Key::SenderName, "senderName"),
    (Key::ChatType, "chatType"),
    (Key::GroupId, "groupId"),
    (Key::GroupSubject, "groupSubject"),
    (Key::ReplyToMessageId, "replyToMessageId"),
    (Key::ReplyToBody, "replyToBody"),
    (Key::MediaPath, "mediaPath"),
    (Key::MediaType, "mediaType"),
    (Key::MediaPaths, "mediaPaths"),
    (Key::MediaTypes, "mediaTypes"),
    (Key::CustomData, "customData"),
    (Key::Protocol, "protocol"),
    (Key::Stream, "stream"),
    (Key::LastSeq, "lastSeq"),
    (Key::Session, "sessionKey"),
    (Key::Limit, "limit"),
    (Key::Cursor, "cursor"),
    (Key::Id, "id"),
];

impl Key {
    /// How many known keys there are.
    const COUNT: usize = Key::Other as usize;

    /// The key's bit in [`RawFrame`]'s presence mask (none for `Other`).
    #[inline]
    pub(crate) const fn bit(self) -> u32 {
        (1u32 << (self as u32)) & ((1u32 << Key::COUNT) - 1)
    }

    /// The field's wire name.
    pub(crate) fn name(self) -> &'static str {
        KEYS.get(self as usize).map_or("", |(_, name)| name)
    }

    /// The key with this wire name (`Other` for any unknown name).
    fn from_name(name: &str) -> Key {
        Key::from_name_bytes(name.as_bytes())
    }

    /// [`Key::from_name`] on the raw bytes of a name.
    #[inline]
    fn from_name_bytes(name: &[u8]) -> Key {
        // A `match` compiles to a switch on length before any byte comparison.
        match name {
            b"type" => Key::Type,
            b"content" => Key::Content,
            b"messageId" => Key::MessageId,
            b"senderId" => Key::SenderId,
            b"senderName" => Key::SenderName,
            b"chatType" => Key::ChatType,
            b"groupId" => Key::GroupId,
            b"groupSubject" => Key::GroupSubject,
            b"replyToMessageId" => Key::ReplyToMessageId,
            b"replyToBody" => Key::ReplyToBody,
            b"mediaPath" => Key::MediaPath,
            b"mediaType" => Key::MediaType,
            b"mediaPaths" => Key::MediaPaths,
            b"mediaTypes" => Key::MediaTypes,
            b"customData" => Key::CustomData,
            b"protocol" => Key::Protocol,
            b"stream" => Key::Stream,
            b"lastSeq" => Key::LastSeq,
            b"sessionKey" => Key::Session,
            b"limit" => Key::Limit,
            b"cursor" => Key::Cursor,
            b"id" => Key::Id,
            _ => Key::Other,
        }
    }

    fn error(self, expected: &'static str) -> FieldError {
        FieldError {
            field: self.name(),
            expected,
        }
    }
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
        Ok(Key::from_name(key))
    }
}

/// Parses a text frame into `frame` (which must be empty). `Err` only for text that is not JSON.
pub(crate) fn parse_into<'a>(
    text: &'a str,
    frame: &mut RawFrame<'a>,
) -> Result<(), serde_json::Error> {
    // Most frames are flat objects of plain strings: read those directly, the rest with serde.
    if flat::parse(text, frame) {
        return Ok(());
    }
    *frame = RawFrame::default();
    serde_parse_into(text, frame)
}

/// The full parser: any JSON document.
fn serde_parse_into<'a>(text: &'a str, frame: &mut RawFrame<'a>) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    FrameSeed(frame).deserialize(&mut de)?;
    de.end()
}

/// Parses a text frame. `Err` only for text that is not JSON.
#[cfg(test)]
pub(crate) fn parse(text: &str) -> Result<RawFrame<'_>, serde_json::Error> {
    let mut frame = RawFrame::default();
    parse_into(text, &mut frame)?;
    Ok(frame)
}

/// A field that is absent, `null`, or present with an unusable type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub field: &'static str,
    pub expected: &'static str,
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
        assert_eq!(f.get(Key::Type), Some(Field::Str("chat.send")));
        assert!(matches!(
            f.get(Key::Content),
            Some(Field::Other(Loose::Number(_)))
        ));
        assert!(matches!(
            f.get(Key::CustomData),
            Some(Field::Other(Loose::Object(_)))
        ));
        assert_eq!(f.str(Key::Content).unwrap_err().field, "content");
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
        assert!(
            matches!(f.get(Key::Content), Some(Field::Other(Loose::Str(Cow::Owned(s)))) if s == "a\nb")
        );
        assert_eq!(f.get(Key::SenderId), Some(Field::Str("u1")));
    }

    #[test]
    fn repeated_keys_keep_the_last_value_and_never_overflow() {
        let mut text = alloc::string::String::from("{");
        for round in 0..3 {
            for (_, name) in KEYS {
                text.push_str(&alloc::format!("\"{name}\":{round},"));
            }
        }
        text.push_str("\"type\":\"ping\"}");
        let f = parse(&text).unwrap();
        assert_eq!(f.str(Key::Type).unwrap(), Some("ping"));
        assert_eq!(f.u64(Key::LastSeq).unwrap(), Some(2));
        assert_eq!(f.present.count_ones() as usize, Key::COUNT);
        assert!(f.others.len() <= Key::COUNT && f.strs.len() <= STR_SLOTS);
    }

    /// The flat reader may only accept what the full parser accepts, read the same way.
    #[test]
    fn flat_reader_agrees_with_the_full_parser() {
        let samples = [
            r#"{"type":"chat.send","content":"Hello! How are you today?","senderName":"John"}"#,
            r#" { "type" : "chat.resume" , "lastSeq" : 18446744073709551615 , "x":null } "#,
            r#"{"type":"ping","id":0,"stream":true,"protocol":false,"content":"\u00e9"}"#,
            r#"{"content":"a\"b","limit":007,"cursor":1.5e3,"id":-1,"customData":{"a":[1]}}"#,
            r#"{"type":"chat.send","content":"中文 🦀 eight!!! bytes.","":"","type":"x"}"#,
            "{}",
            "\t{\n}\r\n",
        ];
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        const NOISE: &[u8] = b"{}[]\",:0123456789.eE-+ \t\n\x01tfnulrsaxy";
        let mut accepted = 0;
        for round in 0..40_000 {
            let mut bytes = samples[round % samples.len()].as_bytes().to_vec();
            for _ in 0..(next() % 4) {
                let at = (next() as usize) % (bytes.len() + 1);
                let noise = NOISE[(next() as usize) % NOISE.len()];
                match next() % 3 {
                    0 if at < bytes.len() => bytes[at] = noise,
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, noise),
                }
            }
            let Ok(text) = core::str::from_utf8(&bytes) else {
                continue;
            };
            let mut fast = RawFrame::default();
            if flat::parse(text, &mut fast) {
                accepted += 1;
                let mut full = RawFrame::default();
                assert!(serde_parse_into(text, &mut full).is_ok(), "{text}");
                assert_eq!(fast, full, "{text}");
            }
        }
        assert!(accepted > 5_000, "only {accepted} accepted");
        // Every prefix and suffix of every sample: strings that end at, near or past the end
        // of the frame, where the reader changes how it looks for the closing quote.
        for sample in samples {
            for cut in 0..=sample.len() {
                for text in [sample.get(..cut), sample.get(cut..)].into_iter().flatten() {
                    let mut fast = RawFrame::default();
                    if flat::parse(text, &mut fast) {
                        let mut full = RawFrame::default();
                        assert!(serde_parse_into(text, &mut full).is_ok(), "{text}");
                        assert_eq!(fast, full, "{text}");
                    }
                }
            }
        }
    }

    /// Short strings at the end of a frame stay on the fast path, whatever follows their
    /// opening quote (a `#` right after a quote once looked like a byte to escape).
    #[test]
    fn flat_reader_takes_short_strings_at_the_end() {
        for text in [
            r##"{"type":"#x"}"##,
            r##"{"type":"ping","id":"#1"}"##,
            r#"{"a":"b","c":""}"#,
        ] {
            let mut frame = RawFrame::default();
            assert!(flat::parse(text, &mut frame), "{text}");
            let mut full = RawFrame::default();
            assert!(serde_parse_into(text, &mut full).is_ok());
            assert_eq!(frame, full, "{text}");
        }
    }

    /// The flat reader knows every key by name, and only by its exact name.
    #[test]
    fn flat_reader_knows_every_key() {
        for (key, name) in KEYS {
            let text = alloc::format!(r#"{{"{name}":"v"}}"#);
            let f = parse(&text).unwrap();
            assert_eq!(f.get(key), Some(Field::Str("v")), "{name}");
            for near in [&name[..name.len() - 1], &alloc::format!("{name}s")] {
                let text = alloc::format!(r#"{{"{near}":"v","x":"{name}"}}"#);
                let f = parse(&text).unwrap();
                let found = KEYS.iter().filter(|(k, _)| f.get(*k).is_some());
                assert!(found.map(|(_, n)| *n).all(|n| n == near), "{near}");
            }
        }
    }

    #[test]
    fn key_names_follow_the_enum() {
        for (i, (key, name)) in KEYS.iter().enumerate() {
            assert_eq!(*key as usize, i);
            assert_eq!(key.name(), *name);
        }
        assert_eq!(Key::Other.name(), "");
    }
}
