//! Reading a `chat.send` frame: every field type-checked, in the order that decides which error
//! a bad frame gets, before anything about the sender is looked at.

use alloc::borrow::{Cow, ToOwned};
use alloc::format;
use alloc::vec::Vec;

use serde_json::Value;

use crate::error::ErrorCode;
use crate::event::ChatType;
use crate::inbound::{Field, FieldError, Key, Loose, RawFrame};
use crate::media::{self, Media, MAX_MEDIA};

/// The seed's text for frames that are not a well-formed `chat.send`.
pub(crate) const INVALID_FORMAT: &str =
    "Invalid message format. Expected: { type: 'chat.send', content: '...' }";
/// Longest accepted `messageId`.
const MAX_MESSAGE_ID: usize = 256;

/// Keys of `chat.send` that most messages do not carry: a frame without any of them skips
/// reading them one by one.
const RARE_KEYS: u32 = Key::ChatType.bit()
    | Key::GroupId.bit()
    | Key::GroupSubject.bit()
    | Key::ReplyToMessageId.bit()
    | Key::ReplyToBody.bit()
    | Key::MediaPath.bit()
    | Key::MediaType.bit()
    | Key::MediaPaths.bit()
    | Key::MediaTypes.bit()
    | Key::CustomData.bit();

/// A `chat.send` frame whose fields all have usable types and values.
#[derive(Debug, Default)]
pub(crate) struct SendFrame<'f> {
    /// The client's message id.
    pub message_id: Option<&'f str>,
    pub content: &'f str,
    pub sender_id: Option<&'f str>,
    pub sender_name: Option<&'f str>,
    pub chat_type: ChatType,
    pub group_id: Option<&'f str>,
    pub group_subject: Option<&'f str>,
    pub reply_to_id: Option<&'f str>,
    pub reply_to_body: Option<&'f str>,
    pub media: Vec<Media>,
    pub custom_data: Option<Value>,
}

/// Why a frame is refused, with the client's message id when it was usable.
#[derive(Debug)]
pub(crate) enum Refusal<'f> {
    /// A field of the wrong type or shape: `invalid_field`.
    Field(FieldError, Option<&'f str>),
    /// Anything else, with its own code.
    Other(ErrorCode, Cow<'static, str>, Option<&'f str>),
}

/// Reads `f` as a `chat.send` frame limited to `max_chars` characters of content into `send`
/// (which starts as the default: it is filled in place, not returned, as it is large).
pub(crate) fn read<'f>(
    f: &'f RawFrame<'_>,
    max_chars: usize,
    send: &mut SendFrame<'f>,
) -> Result<(), Refusal<'f>> {
    // The client's message id, when usable, labels every error about this frame.
    let mid = match f.nonempty_str(Key::MessageId) {
        Ok(Some(m)) if m.len() > MAX_MESSAGE_ID => {
            let err = FieldError {
                field: "messageId",
                expected: "at most 256 bytes",
            };
            return Err(Refusal::Field(err, None));
        }
        Ok(m) => m,
        Err(err) => return Err(Refusal::Field(err, None)),
    };
    let refuse = |code, text: &'static str| Refusal::Other(code, Cow::Borrowed(text), mid);
    let field = |err| Refusal::Field(err, mid);
    let content = match f.str(Key::Content) {
        Ok(Some(c)) if !is_blank(c) => c,
        Ok(_) => return Err(refuse(ErrorCode::EmptyContent, INVALID_FORMAT)),
        Err(err) => return Err(field(err)),
    };
    if content.len() > max_chars && content.chars().count() > max_chars {
        let text = format!("Message content exceeds {max_chars} characters");
        return Err(Refusal::Other(ErrorCode::ContentTooLarge, text.into(), mid));
    }
    send.message_id = mid;
    send.content = content;
    send.sender_id = f.nonempty_str(Key::SenderId).map_err(field)?;
    send.sender_name = f.nonempty_str(Key::SenderName).map_err(field)?;
    if !f.has_any(RARE_KEYS) {
        return Ok(());
    }
    let chat_type = f.nonempty_str(Key::ChatType).map_err(field)?;
    send.group_id = f.nonempty_str(Key::GroupId).map_err(field)?;
    send.group_subject = f.nonempty_str(Key::GroupSubject).map_err(field)?;
    send.reply_to_id = f.nonempty_str(Key::ReplyToMessageId).map_err(field)?;
    send.reply_to_body = f.nonempty_str(Key::ReplyToBody).map_err(field)?;
    let media_path = f.nonempty_str(Key::MediaPath).map_err(field)?;
    let media_type = f.nonempty_str(Key::MediaType).map_err(field)?;
    let media_paths = f.str_list(Key::MediaPaths).map_err(field)?;
    let media_types = f.str_list(Key::MediaTypes).map_err(field)?;
    send.chat_type = match chat_type {
        None | Some("direct") => ChatType::Direct,
        Some("group") => ChatType::Group,
        Some(_) => {
            let err = FieldError {
                field: "chatType",
                expected: "\"direct\" or \"group\"",
            };
            return Err(field(err));
        }
    };
    send.custom_data = match f.get(Key::CustomData) {
        None | Some(Field::Other(Loose::Null)) => None,
        Some(Field::Other(Loose::Object(map))) => Some(Value::Object(map.clone())),
        Some(_) => {
            let err = FieldError {
                field: "customData",
                expected: "an object",
            };
            return Err(field(err));
        }
    };
    if send.chat_type == ChatType::Group && send.group_id.is_none() {
        let text = "groupId is required when chatType is \"group\"";
        return Err(refuse(ErrorCode::MissingGroupId, text));
    }
    let mut attachments = media_path.map(|path| (path, media_type)).into_iter().chain(
        media_paths.iter().flatten().enumerate().map(|(i, path)| {
            let mime_type = media_types.as_ref().and_then(|t| t.get(i).copied());
            (*path, mime_type)
        }),
    );
    send.media = collect_media(&mut attachments)
        .map_err(|text| Refusal::Other(ErrorCode::InvalidMedia, text, mid))?;
    Ok(())
}

/// Whether `text` is empty or only whitespace (the seed refuses such content).
#[inline]
fn is_blank(text: &str) -> bool {
    match text.as_bytes().first() {
        // Most messages start with a visible ASCII character: no need to look further.
        Some(&b) if b > b' ' && b < 0x80 => false,
        _ => text.trim().is_empty(),
    }
}

/// Checks and de-duplicates attachments `(location, mime type)`.
fn collect_media<'a>(
    attachments: &mut dyn Iterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<Vec<Media>, Cow<'static, str>> {
    let mut media: Vec<Media> = Vec::new();
    for (location, mime_type) in attachments {
        let kind = media::classify(location).ok_or(Cow::Borrowed(
            "Media must be an http(s) URL or a relative path without '..'",
        ))?;
        if media.iter().any(|m| m.location == location) {
            continue;
        }
        if media.len() >= MAX_MEDIA {
            let text = format!("At most {MAX_MEDIA} media attachments per message");
            return Err(Cow::Owned(text));
        }
        media.push(Media {
            kind,
            location: location.to_owned(),
            mime_type: mime_type.filter(|t| !t.is_empty()).map(str::to_owned),
        });
    }
    Ok(media)
}
