//! Local time formatting and the terminal size, through the C library so
//! that time zone names and rules are exactly what procps prints.

use std::ffi::CString;

extern "C" {
    // Not exported by the libc crate for Linux; part of POSIX.
    fn tzset();
}

/// Formats `secs` since the epoch in local time with `strftime(3)`; an
/// empty string when that fails (procps prints nothing then, too).
pub fn format_local(secs: i64, format: &str) -> String {
    let Ok(fmt) = CString::new(format) else {
        return String::new();
    };
    let t = secs as libc::time_t;
    // SAFETY: `tm` is plain data zero-initialised; localtime_r fills it from
    // `t` (tzset first, as localtime(3) does); strftime writes at most
    // `buf.len()` bytes into `buf` and returns how many.
    unsafe {
        tzset();
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return String::new();
        }
        let mut buf = [0u8; 64];
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), &tm);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// Rows of the terminal on stdout, or 24 when stdout is not a terminal
/// (procps' `winhi`).
pub fn terminal_rows() -> u32 {
    // SAFETY: TIOCGWINSZ writes one `winsize` into `win` or fails.
    unsafe {
        let mut win: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut win) != -1 && win.ws_row > 0 {
            u32::from(win.ws_row)
        } else {
            24
        }
    }
}

/// Columns of the terminal on stdout; `None` when stdout is not a terminal.
pub fn terminal_columns() -> Option<usize> {
    // SAFETY: TIOCGWINSZ writes one `winsize` into `win` or fails.
    unsafe {
        let mut win: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut win) != -1 && win.ws_col > 0 {
            Some(usize::from(win.ws_col))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_strftime() {
        let s = format_local(0, "%Y");
        assert!(s == "1970" || s == "1969", "{s}");
        assert_eq!(format_local(0, "").len(), 0);
    }
}
