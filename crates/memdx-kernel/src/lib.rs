//! Kernel memory for memdx.
//!
//! - [`kmemleak`]: parse kmemleak reports in every format kernels have
//!   printed (debugfs file or kernel log), group objects into leaks titled
//!   "memory leak in <culprit>", diff two runs, drive the debugfs control
//!   file (scan, wait, rescan, read) and diagnose why kmemleak is unusable.
//! - [`kallsyms`]: symbolize raw addresses.
//! - [`kmsg`]: kernel log text from `/dev/kmsg` or dmesg.
//! - [`logstamp`]: wall-clock stamps of syslog, journal and `dmesg -T` lines.
//! - [`slab`]: parse `/proc/slabinfo` (or `/sys/kernel/slab`), and detect
//!   caches that keep growing (Theil–Sen slope, Mann–Kendall test).
//! - [`oom`]: OOM-killer reports from kernel log text, one event per kill.
//!
//! Every file is reached through a [`memdx_proc::ProcRoot`], so tests run on
//! fixture trees. Nothing here prints, except the `render` modules, which
//! write to any `io::Write`.
//!
//! ```
//! use memdx_kernel::kmemleak::{group, parse_report, Filter, GroupBy};
//! let text = "unreferenced object 0xffff888005a3b000 (size 32):\n  comm \"insmod\", pid 92, jiffies 4294893456\n  backtrace (crc 0):\n    __kmalloc_cache_noprof+0x2f7/0x3a0\n    leak_init+0x7a/0x1000 [kmemleak_test]\n";
//! let objects = parse_report(text, "example").unwrap();
//! let report = group(&objects, GroupBy::Backtrace, &Filter::default());
//! assert_eq!(report.groups[0].title, "memory leak in leak_init");
//! ```

#![deny(missing_docs)]

mod error;
pub mod kallsyms;
pub mod kmemleak;
pub mod kmsg;
pub mod logstamp;
pub mod oom;
pub mod slab;
pub mod wait;

pub use error::{read_limited, read_text, KernelError, Result, MAX_INPUT_BYTES};
