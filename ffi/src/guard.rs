//! The boundary discipline shared by every entry point: unwinds are caught, pointers and UTF-8
//! are checked before anything changes, and errors are recorded for `clawsocket_last_error_*`.

use core::ffi::{c_char, CStr};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::result::ClawsocketResult::{self, *};

/// Why a call failed: its code and the text kept for `clawsocket_last_error_*`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: ClawsocketResult,
    /// The offending key, for configuration and JSON-argument errors.
    pub(crate) key: Option<String>,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: ClawsocketResult, message: impl Into<String>) -> Failure {
        Failure {
            code,
            key: None,
            message: message.into(),
        }
    }

    pub(crate) fn keyed(
        code: ClawsocketResult,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Failure {
        Failure {
            code,
            key: Some(key.into()),
            message: message.into(),
        }
    }

    pub(crate) fn null(what: &str) -> Failure {
        Failure::new(CLAWSOCKET_NULL_POINTER, format!("{what} is NULL"))
    }
}

impl From<clawsocket_core::UsageError> for Failure {
    fn from(err: clawsocket_core::UsageError) -> Failure {
        Failure::new(ClawsocketResult::from(&err), err.to_string())
    }
}

impl From<clawsocket_core::ClientError> for Failure {
    fn from(err: clawsocket_core::ClientError) -> Failure {
        Failure::new(ClawsocketResult::from(&err), err.to_string())
    }
}

/// What a call body returns: a non-error code (`OK`, `EMPTY`, `BUFFER_TOO_SMALL`) or a failure.
pub(crate) type Outcome = Result<ClawsocketResult, Failure>;

thread_local! {
    static LAST_ERROR: RefCell<Option<Failure>> = const { RefCell::new(None) };
}

fn record(failure: Failure) -> ClawsocketResult {
    let code = failure.code;
    // Cannot fail: the cell is only borrowed here and in `with_last_error`, never re-entrantly.
    LAST_ERROR.with(|cell| *cell.borrow_mut() = Some(failure));
    code
}

pub(crate) fn with_last_error<R>(f: impl FnOnce(Option<&Failure>) -> R) -> R {
    LAST_ERROR.with(|cell| f(cell.borrow().as_ref()))
}

fn finish(outcome: std::thread::Result<Outcome>) -> ClawsocketResult {
    match outcome {
        Ok(Ok(code)) => code,
        Ok(Err(failure)) => record(failure),
        Err(_) => record(Failure::new(
            CLAWSOCKET_PANIC,
            "clawsocket panicked (a bug): free the handle",
        )),
    }
}

/// Runs a call that needs no handle.
pub(crate) fn call(body: impl FnOnce() -> Outcome) -> ClawsocketResult {
    finish(catch_unwind(AssertUnwindSafe(body)))
}

/// A handle that refuses further calls once a call on it panicked.
pub(crate) trait Poisonable {
    fn poisoned(&mut self) -> &mut bool;
}

/// Runs a call on the handle behind `handle`.
///
/// # Safety
/// `handle` is NULL or a live handle from the matching `_new`, not used by another thread.
pub(crate) unsafe fn call_with<H: Poisonable>(
    handle: *mut H,
    body: impl FnOnce(&mut H) -> Outcome,
) -> ClawsocketResult {
    // SAFETY: the caller guarantees a live, exclusively used handle (or NULL).
    let Some(handle) = (unsafe { handle.as_mut() }) else {
        return record(Failure::null("handle"));
    };
    if *handle.poisoned() {
        return record(Failure::new(
            CLAWSOCKET_POISONED,
            "an earlier call on this handle panicked",
        ));
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| body(&mut *handle)));
    if outcome.is_err() {
        // The state may be half-updated: refuse to touch it again.
        *handle.poisoned() = true;
    }
    finish(outcome)
}

/// A NUL-terminated UTF-8 argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives the call.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    core::str::from_utf8(bytes).map_err(|_| {
        Failure::new(
            CLAWSOCKET_INVALID_UTF8,
            format!("{what} is not valid UTF-8"),
        )
    })
}

/// An optional NUL-terminated UTF-8 argument: NULL means absent.
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(
    ptr: *const c_char,
    what: &str,
) -> Result<Option<&'a str>, Failure> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { str_arg(ptr, what) }.map(Some)
    }
}

/// A byte buffer argument; NULL is allowed only with length 0.
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes that outlive the call.
pub(crate) unsafe fn bytes_arg<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL with `len` readable bytes by the caller's contract.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// A place to write one output value.
pub(crate) fn out_arg<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller's contract makes a non-NULL output pointer valid for writing.
    unsafe { ptr.as_mut() }.ok_or_else(|| Failure::null(what))
}

/// The caller's text buffer: `cap` bytes at `buf` (NULL allowed when `cap` is 0) and the length.
#[derive(Debug)]
pub(crate) struct TextOut<'a> {
    buf: *mut c_char,
    cap: usize,
    len: &'a mut usize,
}

impl<'a> TextOut<'a> {
    /// Checks the buffer arguments before anything is consumed.
    pub(crate) fn new(
        buf: *mut c_char,
        cap: usize,
        len: *mut usize,
    ) -> Result<TextOut<'a>, Failure> {
        if buf.is_null() && cap > 0 {
            return Err(Failure::null("buf (with a non-zero cap)"));
        }
        Ok(TextOut {
            buf,
            cap,
            len: out_arg(len, "len")?,
        })
    }

    /// Whether `text` and its NUL fit.
    pub(crate) fn fits(&self, text: &str) -> bool {
        text.len() < self.cap
    }

    /// Reports the size needed for `text` without writing it.
    pub(crate) fn too_small(self, text: &str) -> ClawsocketResult {
        *self.len = text.len();
        CLAWSOCKET_BUFFER_TOO_SMALL
    }

    /// Copies `text` and a NUL terminator; the caller checked [`TextOut::fits`].
    pub(crate) fn write(self, text: &str) -> ClawsocketResult {
        debug_assert!(self.fits(text));
        // SAFETY: `buf` holds `cap` > `text.len()` writable bytes (caller's contract + `fits`).
        unsafe {
            core::ptr::copy_nonoverlapping(text.as_ptr(), self.buf.cast::<u8>(), text.len());
            *self.buf.add(text.len()) = 0;
        }
        *self.len = text.len();
        CLAWSOCKET_OK
    }

    /// Copies `text` if it fits, else reports the size needed.
    pub(crate) fn put(self, text: &str) -> ClawsocketResult {
        if self.fits(text) {
            self.write(text)
        } else {
            self.too_small(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dummy {
        poisoned: bool,
        value: u32,
    }

    impl Poisonable for Dummy {
        fn poisoned(&mut self) -> &mut bool {
            &mut self.poisoned
        }
    }

    #[test]
    fn a_panic_becomes_a_code_and_poisons_the_handle() {
        let mut dummy = Dummy {
            poisoned: false,
            value: 0,
        };
        let ptr: *mut Dummy = &mut dummy;
        let code = unsafe {
            call_with(ptr, |d| {
                d.value = 1;
                panic!("boom")
            })
        };
        assert_eq!(code, CLAWSOCKET_PANIC);
        let code = unsafe {
            call_with(ptr, |d| {
                d.value = 2;
                Ok(CLAWSOCKET_OK)
            })
        };
        assert_eq!(code, CLAWSOCKET_POISONED);
        assert_eq!(dummy.value, 1);
        assert_eq!(call(|| panic!("no handle")), CLAWSOCKET_PANIC);
    }

    #[test]
    fn null_handle_is_an_error() {
        let code = unsafe { call_with(core::ptr::null_mut::<Dummy>(), |_| Ok(CLAWSOCKET_OK)) };
        assert_eq!(code, CLAWSOCKET_NULL_POINTER);
        with_last_error(|e| assert_eq!(e.unwrap().message, "handle is NULL"));
    }
}
