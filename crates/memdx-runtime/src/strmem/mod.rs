//! Checked copies of the C library's memory and string routines (memcpy,
//! memmove, memset, strcpy, stpcpy, strncpy, strcat, strncat, strlen,
//! mempcpy, stpncpy, memchr, strcmp, strncmp, and the `_FORTIFY_SOURCE`
//! entry points `__memcpy_chk`, `__memmove_chk`, `__memset_chk`,
//! `__strcpy_chk`, `__stpcpy_chk`, `__strncpy_chk`, `__strcat_chk`,
//! `__strncat_chk`, `__mempcpy_chk`), as Valgrind 3.19 checks them: with
//! its `vg_replace_strmem.c` replacements, or, for the `_chk` routines it
//! does not replace, with glibc's own loops running under memcheck.
//!
//! Each routine looks up the heap blocks its pointers start (one hash probe
//! each: interior pointers are not looked up), and when the call would
//! touch bytes outside them, or (string routines) its source and
//! destination overlap, reports it before doing the work. The work itself
//! is glibc's routine, found with `dlsym(RTLD_NEXT)` at start: the program
//! gets glibc's result and glibc's speed, whatever was reported.
//!
//! The report is Valgrind's: memcheck runs its own simple loops instead of
//! glibc's and reports each access its loops make outside a block, so the
//! error path here replays those loops (without touching memory) to report
//! the same first address, access size and error count, one context per
//! access site of Valgrind's loop (e.g. strcpy's copy loop and its
//! terminating NUL are two contexts under Valgrind, so two here). Valgrind
//! 3.19 does not check `memcpy`'s arguments for overlap on amd64 (KDE bug
//! 402833: glibc's memcpy is memmove there), so neither does memdx.
//!
//! Files: `lookup` (glibc's routines by [`Routine`]), `replay` (the replay
//! engine), the checked routines in `copies`, `fortify`, `reads` (with
//! strnlen) and `wide` (wcslen, wcsnlen, wcscpy, wcscmp, wcschr), and in
//! `streams` the hooks of puts, fputs, fputs_unlocked and strndup, whose
//! strlen/strnlen glibc calls internally; in `printf` the printf family's
//! `%s` arguments (glibc's `__vfprintf_internal` reads them with its
//! internal strlen/strnlen).

use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

use memdx_events::{Access, AccessKind, Place, Routine};

use crate::table::{self, Block};
use crate::{access, hooks, stacks};

/// Calls glibc's routine `i` with the caller's arguments (`$t` its type).
macro_rules! call_real {
    ($i:expr, $t:ty, $($a:expr),*) => {{
        let f = real($i);
        // SAFETY: REAL[$i] holds glibc's routine of this type (dlsym).
        let f: $t = unsafe { core::mem::transmute(f) };
        // SAFETY: the caller's arguments, under the routine's contract.
        unsafe { f($($a),*) }
    }};
}

mod copies;
mod fortify;
mod lookup;
mod printf;
mod reads;
mod replay;
mod streams;
mod wide;

use copies::*;
#[cfg(test)]
use fortify::*;
use lookup::*;
use replay::*;

pub use lookup::{init, raw_memcpy, raw_memset};
pub use printf::init_printf;
pub use replay::{repair_header, PARTIAL_LOADS_OK};
pub use streams::init_streams;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_replaced_c_routine_has_a_slot_for_glibcs_version() {
        let replaced: Vec<Routine> = Routine::ALL
            .into_iter()
            .filter(|r| r.c_symbol().is_some())
            .collect();
        assert_eq!(replaced.len(), 35);
        for r in replaced {
            assert!((r as usize) < REAL.len(), "{r:?}");
        }
    }

    fn elems(d: usize, s: usize, len: usize) -> Vec<(u8, usize, usize)> {
        let mut v = Vec::new();
        memmove_elems(d, s, len, &mut |site, off, sz| v.push((site, off, sz)));
        v
    }

    #[test]
    fn memmove_replay_follows_valgrinds_loop() {
        // Same alignment: 4 unrolled words, then one word.
        assert_eq!(
            elems(0x1000, 0x2000, 40),
            vec![(1, 0, 8), (2, 8, 8), (3, 16, 8), (4, 24, 8), (5, 32, 8)]
        );
        // Same alignment, off by 6: two head bytes, a word, shorts, a byte.
        assert_eq!(
            elems(0x1006, 0x2006, 13),
            vec![(0, 0, 1), (0, 1, 1), (5, 2, 8), (6, 10, 2), (7, 12, 1)]
        );
        // Different alignment, both even: shorts only.
        assert_eq!(elems(0x1000, 0x2002, 4), vec![(6, 0, 2), (6, 2, 2)]);
        // Overlapping with dst above src: backwards from the end.
        assert_eq!(
            elems(0x1001, 0x1000, 3),
            vec![(15, 2, 1), (15, 1, 1), (15, 0, 1)]
        );
        // dst == src: Valgrind copies nothing.
        assert!(elems(0x1000, 0x1000, 8).is_empty());
        assert!(elems(0x1000, 0x2000, 0).is_empty());
    }

    fn groups(r: &Replay) -> Vec<(bool, u8, usize, usize, u64)> {
        r.groups
            .iter()
            .flatten()
            .map(|g| (g.write, g.site, g.addr, g.size, g.count))
            .collect()
    }

    #[test]
    fn strncat_chk_replay_follows_glibcs_loop() {
        let b = Block {
            ptr: 0x1000,
            size: 36,
            stack: 0,
            kind: 0,
        };
        // 31 bytes + 6 appended: four by the unrolled loop (31..34), two by
        // the tail loop (35, 36: one past the end), then the NUL (37).
        let mut r = Replay::new();
        strcat_chk_replay(&mut r, 0x1000, 0x9000, 31, 6, Some(6), 64, Some(b), None);
        assert_eq!(
            groups(&r),
            vec![
                (true, C_WRITE_TAIL, 0x1024, 1, 1),
                (true, C_WRITE_NUL, 0x1025, 1, 1)
            ]
        );
        // Empty string + 40: the unrolled loop's four stores past the end,
        // then the NUL.
        let mut r = Replay::new();
        strcat_chk_replay(&mut r, 0x1000, 0x9000, 0, 40, Some(40), 64, Some(b), None);
        assert_eq!(
            groups(&r),
            vec![
                (true, C_WRITE4, 0x1024, 1, 1),
                (true, C_WRITE4 + 1, 0x1025, 1, 1),
                (true, C_WRITE4 + 2, 0x1026, 1, 1),
                (true, C_WRITE4 + 3, 0x1027, 1, 1),
                (true, C_WRITE_NUL, 0x1028, 1, 1)
            ]
        );
        // destlen 38: the scan's NUL read takes one and gives it back, the
        // copy writes 38 bytes (0..=37) and glibc gives up at the 39th: 36
        // and 37 only, no NUL.
        let mut r = Replay::new();
        strcat_chk_replay(&mut r, 0x1000, 0x9000, 0, 40, Some(40), 38, Some(b), None);
        assert_eq!(
            groups(&r),
            vec![
                (true, C_WRITE4, 0x1024, 1, 1),
                (true, C_WRITE4 + 1, 0x1025, 1, 1)
            ]
        );
        // strcat: one store site, the NUL included (36..39 for 39 + NUL).
        let mut r = Replay::new();
        strcat_chk_replay(&mut r, 0x1000, 0x9000, 5, 34, None, 64, Some(b), None);
        assert_eq!(groups(&r), vec![(true, C_WRITE, 0x1024, 1, 4)]);
    }

    #[test]
    fn overlap_is_valgrinds_rule() {
        assert!(is_overlap(0x1000, 0x1002, 9, 9));
        assert!(!is_overlap(0x1000, 0x1009, 9, 9));
        assert!(is_overlap(0x1009, 0x1000, 9, 10));
        assert!(!is_overlap(0x1000, 0x1000, 0, 4));
        assert!(is_overlap(0x1000, 0x1000, 1, 1));
    }

    #[test]
    fn replay_groups_by_site_and_honours_partial_loads() {
        let b = Block {
            ptr: 0x1000,
            size: 36,
            stack: 0,
            kind: 0,
        };
        let mut r = Replay::new();
        // An aligned word read half outside: no error (partial loads ok).
        r.access(false, 5, 0x1020, 8, Some(b));
        assert!(!r.any());
        // The same word written: an error at its start.
        r.access(true, 5, 0x1020, 8, Some(b));
        // Bytes past the end, twice from one site, once from another.
        r.access(true, 7, 0x1024, 1, Some(b));
        r.access(true, 7, 0x1025, 1, Some(b));
        r.access(true, 2, 0x1026, 1, Some(b));
        // Unknown block: never an error.
        r.access(true, 7, 0x9000, 1, None);
        let got: Vec<(bool, u8, usize, usize, u64)> = r
            .groups
            .iter()
            .flatten()
            .map(|g| (g.write, g.site, g.addr, g.size, g.count))
            .collect();
        assert_eq!(
            got,
            vec![
                (true, 5, 0x1020, 8, 1),
                (true, 7, 0x1024, 1, 2),
                (true, 2, 0x1026, 1, 1)
            ]
        );
    }
}
