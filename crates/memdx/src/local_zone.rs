//! The machine's local time zone (`TZ`, `/etc/localtime`) through the C
//! library, as memdx-units' [`Zone`].

use memdx_units::datetime::Zone;

extern "C" {
    // Not exported by the libc crate for Linux; part of POSIX.
    fn tzset();
}

/// The local zone; offsets come from `localtime_r(3)`.
pub struct LocalZone;

impl LocalZone {
    /// Reads the zone (`tzset(3)`) and returns it.
    pub fn new() -> LocalZone {
        // SAFETY: tzset only reads TZ and the zone files into libc's state.
        unsafe { tzset() };
        LocalZone
    }
}

impl Zone for LocalZone {
    fn offset_at(&self, unix: i64) -> i32 {
        let t = unix as libc::time_t;
        // SAFETY: `tm` is plain data zero-initialised; localtime_r fills it
        // from `t` or returns null.
        unsafe {
            let mut tm: libc::tm = std::mem::zeroed();
            if libc::localtime_r(&t, &mut tm).is_null() {
                0
            } else {
                tm.tm_gmtoff as i32
            }
        }
    }
}
