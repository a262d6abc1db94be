//! The two byte buffers strings cross the boundary through. JavaScript writes an argument into
//! the input buffer (sized by `cs_input`) before a call and reads a result from the output
//! buffer (at `cs_output`, length returned by the call) right after it. Both are owned by Rust,
//! so no pointer handed to JavaScript is ever freed behind its back and no `unsafe` is needed.

use std::cell::RefCell;

thread_local! {
    static INPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Makes the input buffer `len` zero bytes long and returns where JavaScript writes them.
pub fn reserve_input(len: usize) -> *mut u8 {
    INPUT.with_borrow_mut(|input| {
        input.clear();
        input.resize(len, 0);
        input.as_mut_ptr()
    })
}

/// The input buffer as text (invalid UTF-8 is replaced, which the core then refuses).
pub fn input_text() -> String {
    INPUT.with_borrow(|input| String::from_utf8_lossy(input).into_owned())
}

/// Puts a result in the output buffer and returns its length for JavaScript.
pub fn output(text: &str) -> i32 {
    OUTPUT.with_borrow_mut(|out| {
        out.clear();
        out.extend_from_slice(text.as_bytes());
        i32::try_from(out.len()).unwrap_or(i32::MAX)
    })
}

/// Where the last result starts.
pub fn output_ptr() -> *const u8 {
    OUTPUT.with_borrow(|out| out.as_ptr())
}

/// Length of the last result (for calls that return a status instead, like a refused new client).
pub fn output_len() -> i32 {
    OUTPUT.with_borrow(|out| i32::try_from(out.len()).unwrap_or(i32::MAX))
}

#[cfg(test)]
pub fn output_text() -> String {
    OUTPUT.with_borrow(|out| String::from_utf8(out.clone()).unwrap())
}

#[cfg(test)]
pub fn set_input(text: &str) {
    INPUT.with_borrow_mut(|input| {
        input.clear();
        input.extend_from_slice(text.as_bytes());
    });
}
