//! The number of logged-in users, as `uptime` and `top` count them: the
//! `USER_PROCESS` records with a user name in `/run/utmp` (glibc's x86-64
//! and aarch64 layout: 384-byte records, `ut_type` a 16-bit integer at
//! offset 0, `ut_user` 32 bytes at offset 44).

use crate::root::ProcRoot;

/// Path of the file relative to the root.
pub const REL_PATH: &str = "run/utmp";

const RECORD: usize = 384;
const USER_PROCESS: i16 = 7;
const USER_AT: usize = 44;

/// Counts login records in the utmp file under `root`; 0 when there is no
/// such file (containers usually have none; procps prints 0 too).
pub fn count_users(root: &ProcRoot) -> usize {
    std::fs::read(root.path(REL_PATH)).map_or(0, |bytes| count_in(&bytes))
}

/// Counts `USER_PROCESS` records with a non-empty user in utmp bytes.
pub fn count_in(bytes: &[u8]) -> usize {
    bytes
        .chunks_exact(RECORD)
        .filter(|r| i16::from_ne_bytes([r[0], r[1]]) == USER_PROCESS && r[USER_AT] != 0)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: i16, user: &[u8]) -> Vec<u8> {
        let mut r = vec![0u8; RECORD];
        r[..2].copy_from_slice(&kind.to_ne_bytes());
        r[USER_AT..USER_AT + user.len()].copy_from_slice(user);
        r
    }

    #[test]
    fn counts_user_processes_with_a_name() {
        let mut bytes = record(USER_PROCESS, b"alice");
        bytes.extend(record(USER_PROCESS, b"bob"));
        bytes.extend(record(8, b"dead")); // DEAD_PROCESS
        bytes.extend(record(USER_PROCESS, b""));
        bytes.extend(record(2, b"reboot")); // BOOT_TIME
        bytes.extend([0u8; 10]); // a torn last record is ignored
        assert_eq!(count_in(&bytes), 2);
    }
}
