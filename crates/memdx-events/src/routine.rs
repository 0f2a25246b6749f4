//! [`Routine`]: the C library routines whose arguments the runtime checks,
//! with their wire ids and names.

/// The C library routines whose arguments the runtime checks (the `func`
/// of an [`Access`](crate::Access) record). The wire value is the discriminant; values 18
/// and 19 (once `index` and `rindex`, which nothing sent) are unassigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Routine {
    /// `memcpy`.
    Memcpy = 1,
    /// `memmove`.
    Memmove = 2,
    /// `memset`.
    Memset = 3,
    /// `strcpy`.
    Strcpy = 4,
    /// `strncpy`.
    Strncpy = 5,
    /// `strcat`.
    Strcat = 6,
    /// `strncat`.
    Strncat = 7,
    /// `strlen`.
    Strlen = 8,
    /// `strnlen`.
    Strnlen = 9,
    /// `stpcpy`.
    Stpcpy = 10,
    /// `mempcpy`.
    Mempcpy = 11,
    /// `stpncpy`.
    Stpncpy = 12,
    /// glibc's `__memcpy_chk` (FORTIFY_SOURCE).
    MemcpyChk = 13,
    /// glibc's `__memmove_chk` (FORTIFY_SOURCE).
    MemmoveChk = 14,
    /// glibc's `__strcpy_chk` (FORTIFY_SOURCE).
    StrcpyChk = 15,
    /// glibc's `__stpcpy_chk` (FORTIFY_SOURCE).
    StpcpyChk = 16,
    /// `memchr`.
    Memchr = 17,
    /// `strcmp`.
    Strcmp = 20,
    /// `strncmp`.
    Strncmp = 21,
    /// glibc's `__memset_chk` (FORTIFY_SOURCE).
    MemsetChk = 22,
    /// glibc's `__strncpy_chk` (FORTIFY_SOURCE).
    StrncpyChk = 23,
    /// glibc's `__strcat_chk` (FORTIFY_SOURCE).
    StrcatChk = 24,
    /// glibc's `__strncat_chk` (FORTIFY_SOURCE).
    StrncatChk = 25,
    /// glibc's `__mempcpy_chk` (FORTIFY_SOURCE).
    MempcpyChk = 26,
    /// `write` (a system call's buffer: [`AccessKind::SyscallParam`](crate::AccessKind::SyscallParam)).
    SysWrite = 27,
    /// `read`.
    SysRead = 28,
    /// `pread`/`pread64`.
    SysPread64 = 29,
    /// `pwrite`/`pwrite64`.
    SysPwrite64 = 30,
    /// `send`.
    SysSend = 31,
    /// `sendto`.
    SysSendto = 32,
    /// `recv`.
    SysRecv = 33,
    /// `recvfrom`.
    SysRecvfrom = 34,
    /// `writev`.
    SysWritev = 35,
    /// `readv`.
    SysReadv = 36,
    /// `malloc` (a fishy argument: [`AccessKind::FishyValue`](crate::AccessKind::FishyValue)).
    AllocMalloc = 37,
    /// `calloc`.
    AllocCalloc = 38,
    /// `realloc`.
    AllocRealloc = 39,
    /// `memalign` (also aligned_alloc, posix_memalign and valloc, which
    /// Valgrind names so).
    AllocMemalign = 40,
    /// `operator new` (Valgrind's `__builtin_new`).
    AllocNew = 41,
    /// `operator new[]` (Valgrind's `__builtin_vec_new`).
    AllocNewArray = 42,
    /// `wcslen`.
    Wcslen = 43,
    /// `wcsnlen`.
    Wcsnlen = 44,
    /// `wcscpy`.
    Wcscpy = 45,
    /// `wcscmp`.
    Wcscmp = 46,
    /// `wcschr`.
    Wcschr = 47,
    /// `strchr` (Valgrind names its replacement `index`).
    Strchr = 48,
    /// `strrchr` (Valgrind's `rindex`).
    Strrchr = 49,
    /// `sendmsg` (for a system call parameter, [`Access::size`](crate::Access::size) holds the
    /// index of the iovec: Valgrind names `msg.msg_iov[N]`).
    SysSendmsg = 50,
    /// `recvmsg`.
    SysRecvmsg = 51,
    /// `puts` (checked as Valgrind's strlen below it).
    Puts = 52,
    /// `fputs`.
    Fputs = 53,
    /// `fputs_unlocked`.
    FputsUnlocked = 54,
    /// `strndup` (checked as Valgrind's strnlen and memmove below it).
    Strndup = 55,
}

impl Routine {
    /// Every routine, in wire order.
    pub const ALL: [Routine; 53] = [
        Routine::Memcpy,
        Routine::Memmove,
        Routine::Memset,
        Routine::Strcpy,
        Routine::Strncpy,
        Routine::Strcat,
        Routine::Strncat,
        Routine::Strlen,
        Routine::Strnlen,
        Routine::Stpcpy,
        Routine::Mempcpy,
        Routine::Stpncpy,
        Routine::MemcpyChk,
        Routine::MemmoveChk,
        Routine::StrcpyChk,
        Routine::StpcpyChk,
        Routine::Memchr,
        Routine::Strcmp,
        Routine::Strncmp,
        Routine::MemsetChk,
        Routine::StrncpyChk,
        Routine::StrcatChk,
        Routine::StrncatChk,
        Routine::MempcpyChk,
        Routine::SysWrite,
        Routine::SysRead,
        Routine::SysPread64,
        Routine::SysPwrite64,
        Routine::SysSend,
        Routine::SysSendto,
        Routine::SysRecv,
        Routine::SysRecvfrom,
        Routine::SysWritev,
        Routine::SysReadv,
        Routine::AllocMalloc,
        Routine::AllocCalloc,
        Routine::AllocRealloc,
        Routine::AllocMemalign,
        Routine::AllocNew,
        Routine::AllocNewArray,
        Routine::Wcslen,
        Routine::Wcsnlen,
        Routine::Wcscpy,
        Routine::Wcscmp,
        Routine::Wcschr,
        Routine::Strchr,
        Routine::Strrchr,
        Routine::SysSendmsg,
        Routine::SysRecvmsg,
        Routine::Puts,
        Routine::Fputs,
        Routine::FputsUnlocked,
        Routine::Strndup,
    ];

    /// Decodes the wire value (0 and unassigned values are `None`).
    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| *r as u8 == v)
    }

    /// The name Valgrind prints for it ("Source and destination overlap in
    /// memcpy_chk(...)"). glibc's checked variants that Valgrind does not
    /// name apart report under the plain routine's name, as Valgrind does.
    pub fn name(self) -> &'static str {
        match self {
            Routine::Memcpy => "memcpy",
            Routine::Memmove => "memmove",
            Routine::Memset => "memset",
            Routine::Strcpy => "strcpy",
            Routine::Strncpy => "strncpy",
            Routine::Strcat => "strcat",
            Routine::Strncat => "strncat",
            Routine::Strlen => "strlen",
            Routine::Strnlen => "strnlen",
            Routine::Stpcpy => "stpcpy",
            Routine::Mempcpy => "mempcpy",
            Routine::Stpncpy => "stpncpy",
            Routine::MemcpyChk => "memcpy_chk",
            Routine::MemmoveChk => "memmove_chk",
            Routine::StrcpyChk => "strcpy_chk",
            Routine::StpcpyChk => "stpcpy_chk",
            Routine::Memchr => "memchr",
            Routine::Strcmp => "strcmp",
            Routine::Strncmp => "strncmp",
            Routine::MemsetChk => "memset",
            Routine::StrncpyChk => "strncpy",
            Routine::StrcatChk => "strcat",
            Routine::StrncatChk => "strncat",
            Routine::MempcpyChk => "mempcpy",
            Routine::SysWrite => "write",
            Routine::SysRead => "read",
            Routine::SysPread64 => "pread64",
            Routine::SysPwrite64 => "pwrite64",
            Routine::SysSend => "send",
            Routine::SysSendto => "sendto",
            Routine::SysRecv => "recv",
            Routine::SysRecvfrom => "recvfrom",
            Routine::SysWritev => "writev",
            Routine::SysReadv => "readv",
            Routine::AllocMalloc => "malloc",
            Routine::AllocCalloc => "calloc",
            Routine::AllocRealloc => "realloc",
            Routine::AllocMemalign => "memalign",
            Routine::AllocNew => "__builtin_new",
            Routine::AllocNewArray => "__builtin_vec_new",
            Routine::Wcslen => "wcslen",
            Routine::Wcsnlen => "wcsnlen",
            Routine::Wcscpy => "wcscpy",
            Routine::Wcscmp => "wcscmp",
            Routine::Wcschr => "wcschr",
            Routine::Strchr => "index",
            Routine::Strrchr => "rindex",
            Routine::SysSendmsg => "sendmsg",
            Routine::SysRecvmsg => "recvmsg",
            Routine::Puts => "puts",
            Routine::Fputs => "fputs",
            Routine::FputsUnlocked => "fputs_unlocked",
            Routine::Strndup => "strndup",
        }
    }

    /// Whether Valgrind's "Source and destination overlap in NAME(dst,
    /// src, len)" shows a length (not for the routines that take none).
    pub fn overlap_shows_length(self) -> bool {
        !matches!(
            self,
            Routine::Strcpy | Routine::Strcat | Routine::Stpcpy | Routine::Wcscpy
        )
    }

    /// The C library function the checker runtime replaces for it, as
    /// `dlsym` finds it (`None` for system calls and allocation functions,
    /// which the runtime reaches otherwise).
    pub fn c_symbol(self) -> Option<&'static core::ffi::CStr> {
        Some(match self {
            Routine::Memcpy => c"memcpy",
            Routine::Memmove => c"memmove",
            Routine::Memset => c"memset",
            Routine::Strcpy => c"strcpy",
            Routine::Strncpy => c"strncpy",
            Routine::Strcat => c"strcat",
            Routine::Strncat => c"strncat",
            Routine::Strlen => c"strlen",
            Routine::Strnlen => c"strnlen",
            Routine::Stpcpy => c"stpcpy",
            Routine::Mempcpy => c"mempcpy",
            Routine::Stpncpy => c"stpncpy",
            Routine::MemcpyChk => c"__memcpy_chk",
            Routine::MemmoveChk => c"__memmove_chk",
            Routine::StrcpyChk => c"__strcpy_chk",
            Routine::StpcpyChk => c"__stpcpy_chk",
            Routine::Memchr => c"memchr",
            Routine::Strcmp => c"strcmp",
            Routine::Strncmp => c"strncmp",
            Routine::MemsetChk => c"__memset_chk",
            Routine::StrncpyChk => c"__strncpy_chk",
            Routine::StrcatChk => c"__strcat_chk",
            Routine::StrncatChk => c"__strncat_chk",
            Routine::MempcpyChk => c"__mempcpy_chk",
            Routine::Wcslen => c"wcslen",
            Routine::Wcsnlen => c"wcsnlen",
            Routine::Wcscpy => c"wcscpy",
            Routine::Wcscmp => c"wcscmp",
            Routine::Wcschr => c"wcschr",
            Routine::Strchr => c"strchr",
            Routine::Strrchr => c"strrchr",
            Routine::Puts => c"puts",
            Routine::Fputs => c"fputs",
            Routine::FputsUnlocked => c"fputs_unlocked",
            Routine::Strndup => c"strndup",
            _ => return None,
        })
    }

    /// For a system call wrapper, the parameter as Valgrind 3.19 names it
    /// in "Syscall param NAME points to unaddressable byte(s)" (and in a
    /// `Memcheck:Param` suppression): amd64 names send and recv after the
    /// sendto and recvfrom system calls they make.
    pub fn syscall_param(self) -> Option<&'static str> {
        Some(match self {
            Routine::SysWrite => "write(buf)",
            Routine::SysRead => "read(buf)",
            Routine::SysPread64 => "pread64(buf)",
            Routine::SysPwrite64 => "pwrite64(buf)",
            Routine::SysSend | Routine::SysSendto => "socketcall.sendto(msg)",
            Routine::SysRecv | Routine::SysRecvfrom => "socketcall.recvfrom(buf)",
            Routine::SysWritev => "writev(vector[...])",
            Routine::SysReadv => "readv(vector[...])",
            Routine::SysSendmsg => "sendmsg(msg.msg_iov[...])",
            Routine::SysRecvmsg => "recvmsg(msg.msg_iov[...])",
            _ => return None,
        })
    }

    /// [`Routine::syscall_param`] for the buffer at `index` of the call
    /// (sendmsg and recvmsg name their iovec by index, as Valgrind 3.19
    /// does: `sendmsg(msg.msg_iov[1])`; the others ignore it).
    pub fn syscall_param_at(self, index: u64) -> Option<String> {
        let name = self.syscall_param()?;
        Some(match name.strip_suffix("[...])") {
            Some(head) if matches!(self, Routine::SysSendmsg | Routine::SysRecvmsg) => {
                format!("{head}[{index}])")
            }
            _ => name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Access, AccessKind, Encoder, Event, EventReader};

    #[test]
    fn every_routine_round_trips_and_unassigned_ids_are_refused() {
        let mut buf = [0u8; 256];
        for r in Routine::ALL {
            assert!(!r.name().is_empty(), "{r:?} has no name");
            let mut e = Encoder::new(&mut buf);
            e.access(&Access {
                kind: AccessKind::Overlap,
                func: Some(r),
                ..Access::default()
            });
            let bytes = e.finish().unwrap();
            match EventReader::new(bytes).next_event() {
                Ok(Some(Event::Access(a))) => assert_eq!(a.func, Some(r)),
                other => panic!("{r:?}: {other:?}"),
            }
        }
        assert_eq!(Routine::from_u8(0), None);
        assert_eq!(Routine::from_u8(18), None);
        let past_last = Routine::ALL.iter().map(|&r| r as u8).max().unwrap() + 1;
        assert_eq!(Routine::from_u8(past_last), None);
        // A record naming an unassigned routine is a malformed stream.
        let mut e = Encoder::new(&mut buf);
        e.access(&Access {
            kind: AccessKind::Overlap,
            func: Some(Routine::Memcpy),
            ..Access::default()
        });
        let bytes = e.finish().unwrap().to_vec();
        let func_at = bytes.len() - 107; // kind u8, then func u8, of a 108-byte payload
        let mut bad = bytes.clone();
        bad[func_at] = 19;
        assert!(EventReader::new(&bad[..]).next_event().is_err());
    }
}
