//! The record format of `Server.drainEncoded`, decoded by `drain.js`.

/// Writes each number after a space (`-` for an absent one).
pub fn numbers(out: &mut String, numbers: &[Option<u64>]) {
    for number in numbers {
        out.push(' ');
        match number {
            Some(n) => decimal(out, *n),
            None => out.push('-'),
        }
    }
}

/// Writes ` <length>:<text>`, the length in UTF-16 code units as JavaScript counts them.
pub fn payload(out: &mut String, text: &str) {
    let length = if text.is_ascii() {
        text.len()
    } else {
        text.encode_utf16().count()
    };
    out.push(' ');
    decimal(out, length as u64);
    out.push(':');
    out.push_str(text);
}

/// Decimal digits without `core::fmt` (this runs several times per message).
fn decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[start..] {
        out.push(char::from(d));
    }
}
