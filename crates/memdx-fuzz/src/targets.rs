//! The targets. Each `run` gives the bytes to one parser (or a reader over
//! a scratch tree built from them) and drops the answer: the type says it
//! is `Ok` or a typed error; the harness catches panics, hangs and memory
//! blow-ups.

use std::path::Path;

use memdx_kernel::kmemleak::{self, group, Filter, GroupBy, Layout};
use memdx_kernel::{kallsyms, kmsg, oom, slab};
use memdx_proc as proc;

use crate::tree::Scratch;
use crate::{split_parts, Target};

/// Text as the readers get it from a file: lossy UTF-8, as
/// `memdx_kernel::read_text` reads, so every byte string reaches the parser.
fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

macro_rules! target {
    ($name:literal, [$($covers:literal),* $(,)?], $run:expr) => {
        Target {
            name: $name,
            covers: &[$($covers),*],
            run: $run,
        }
    };
}

/// Every target, in the order the smoke run takes them.
pub static TARGETS: &[Target] = &[
    target!("meminfo", ["memdx-proc/src/meminfo.rs:parse"], |d| {
        let _ = proc::MemInfo::parse(&text(d));
    }),
    target!("stat", ["memdx-proc/src/stat.rs:parse"], |d| {
        let _ = proc::ProcStat::parse(&text(d));
    }),
    target!("vmstat", ["memdx-proc/src/vmstat.rs:parse"], |d| {
        let _ = proc::VmStat::parse(&text(d));
    }),
    target!("diskstats", ["memdx-proc/src/diskstats.rs:parse"], |d| {
        let _ = proc::DiskStats::parse(&text(d));
    }),
    target!("slabinfo", ["memdx-proc/src/slabinfo.rs:parse"], |d| {
        let _ = proc::SlabInfo::parse(&text(d));
    }),
    target!("smaps", ["memdx-proc/src/smaps.rs:parse_breakdown"], |d| {
        let _ = proc::smaps::parse_breakdown(&text(d));
    }),
    target!("pressure", ["memdx-proc/src/pressure.rs:parse"], |d| {
        let _ = proc::pressure::MemoryPressure::parse(&text(d));
    }),
    target!(
        "uptime_loadavg",
        [
            "memdx-proc/src/uptime.rs:parse",
            "memdx-proc/src/loadavg.rs:parse"
        ],
        |d| {
            let t = text(d);
            let _ = proc::Uptime::parse(&t);
            let _ = proc::LoadAvg::parse(&t);
        }
    ),
    target!(
        "cgroup_memory_stat",
        ["memdx-proc/src/cgroup.rs:parse"],
        |d| {
            let _ = proc::MemoryStat::parse(&text(d));
        }
    ),
    // memory.current, memory.max, memory.high, memory.peak,
    // memory.swap.current, memory.stat of one cgroup directory.
    target!("cgroup_dir", [], |d| {
        const FILES: [&str; 6] = [
            "memory.current",
            "memory.max",
            "memory.high",
            "memory.peak",
            "memory.swap.current",
            "memory.stat",
        ];
        let parts = split_parts(d, FILES.len());
        Scratch::with(|dir| {
            let files: Vec<(&str, &[u8])> = FILES.iter().copied().zip(parts).collect();
            Scratch::write_files(dir, &files);
            let _ = proc::CgroupMemory::read_dir(dir);
        });
    }),
    // /proc/1/{status,smaps_rollup,stat,cgroup,cmdline,statm}: the process
    // reader (ps, top) and the statm reader (top's fast path).
    target!("process", ["memdx-proc/src/process.rs:parse_cgroup"], |d| {
        const FILES: [&str; 6] = [
            "status",
            "smaps_rollup",
            "stat",
            "cgroup",
            "cmdline",
            "statm",
        ];
        let parts = split_parts(d, FILES.len());
        let _ = proc::process::parse_cgroup(&text(parts[3]));
        Scratch::with(|dir| {
            let pid_dir = dir.join("proc/1");
            let files: Vec<(&str, &[u8])> = FILES.iter().copied().zip(parts).collect();
            Scratch::write_files(&pid_dir, &files);
            let root = proc::ProcRoot::new(dir);
            let opts = proc::process::ReadOptions {
                smaps: true,
                cgroup: true,
                cpu: true,
            };
            let _ = proc::process::read_process(&root, 1, opts, &mut Vec::new());
            let _ = proc::statm::StatmReader::new(root, 1).read_all();
        });
    }),
    target!("utmp", [], |d| {
        let _ = proc::utmp::count_in(d);
    }),
    target!(
        "kmemleak",
        [
            "memdx-kernel/src/kmemleak/parse.rs:parse_report",
            "memdx-kernel/src/kmemleak/parse.rs:parse_with_layout",
            "memdx-kernel/src/kmemleak/record.rs:parse_symbol",
        ],
        |d| {
            let t = text(d);
            if let Ok(objs) = kmemleak::parse_report(&t, "fuzz") {
                let _ = group(&objs, GroupBy::Function, &Filter::default());
                let _ = group(&objs, GroupBy::Backtrace, &Filter::default());
                let _ = group(&objs, GroupBy::Crc, &Filter::default());
            }
            let _ = kmemleak::parse::parse_with_layout(&t, "fuzz", Layout::Debugfs);
            let _ = kmemleak::parse::parse_with_layout(&t, "fuzz", Layout::KernelLog);
            for line in t.lines().take(64) {
                let _ = kmemleak::record::parse_symbol(line);
            }
        }
    ),
    target!("kmsg", ["memdx-kernel/src/kmsg.rs:parse_log"], |d| {
        let t = text(d);
        let _ = kmsg::is_kmsg_format(&t);
        let dmesg = kmsg::kmsg_to_dmesg(&t);
        let _ = kmsg::parse_log(&dmesg);
        let _ = kmemleak::parse_report(&dmesg, "fuzz");
        for line in t.lines().take(64) {
            let _ = kmsg::strip_dmesg_prefix(line);
        }
    }),
    target!("oom", ["memdx-kernel/src/oom/mod.rs:parse_events"], |d| {
        let _ = oom::parse_events(&kmsg::parse_log(&text(d)));
    }),
    target!("kallsyms", ["memdx-kernel/src/kallsyms.rs:parse"], |d| {
        let _ = kallsyms::Kallsyms::parse(&text(d), "fuzz");
    }),
    target!(
        "slab",
        ["memdx-kernel/src/slab/info.rs:parse_slabinfo"],
        |d| {
            let _ = slab::info::parse_slabinfo(&text(d), "fuzz");
        }
    ),
    target!(
        "suppressions",
        [
            "memdx-supp/src/parse.rs:parse",
            "memdx-supp/src/lib.rs:parse_set"
        ],
        |d| {
            let t = text(d);
            let _ = memdx_supp::parse(&t, Path::new("fuzz.supp"));
            let _ = memdx_supp::LeakKind::parse_set(&t);
        }
    ),
    target!("valgrind_xml", ["memdx-report/src/xml/read.rs:read"], |d| {
        let _ = memdx_report::xml::read(&text(d));
    }),
    target!("report_json", ["memdx-report/src/json.rs:read"], |d| {
        let _ = memdx_report::json::read(&text(d));
    }),
    target!(
        "event_stream",
        [
            "memdx-events/src/header.rs:decode",
            "memdx-events/src/decode.rs:decode_payload"
        ],
        |d| {
            let mut reader = memdx_events::EventReader::new(d);
            if reader.read_header().is_ok() {
                while let Ok(Some(_)) = reader.next_event() {}
            }
            // The payload decoder alone: first byte the tag, the rest the payload.
            if let Some((&tag, payload)) = d.split_first() {
                let _ = memdx_events::decode_payload(tag, payload);
            }
        }
    ),
    // A recording (SQLite file) as `memdx report` reads it.
    target!("record_db", [], |d| {
        Scratch::with(|dir| {
            let db = dir.join("rec.db");
            Scratch::write_files(dir, &[("rec.db", d)]);
            for extra in ["rec.db-wal", "rec.db-shm", "rec.db-journal"] {
                let _ = std::fs::remove_file(dir.join(extra));
            }
            if let Ok(store) = memdx_record::Store::open_to_read(&db) {
                let opts = memdx_record::report::ReportOptions {
                    top: 5,
                    ..Default::default()
                };
                let _ = memdx_record::report::build(&store, &opts);
            }
        });
    }),
    // A `memdx heap` recording as `memdx heap report` reads it. The first
    // byte picks how the rest is used: 0, a whole file (header, frame
    // prefixes, checksums); otherwise frames made here around the input's
    // payloads (each part at 0xFF: a kind byte, then the payload's sections
    // separated by 0xFE), so the payload decoders are reached past the
    // checksum and the compression.
    target!("heap_recording", [], |d| {
        let Some((&mode, rest)) = d.split_first() else {
            return;
        };
        let file = if mode == 0 {
            rest.to_vec()
        } else {
            heap_frames(rest)
        };
        heap_report(&file);
    }),
    // The faulting instruction's bytes of an Access record (and the
    // registers of a FaultRegs record), decoded into the access the
    // checker reports: pc (8 bytes), fault address (8), up to 16 code
    // bytes, then the registers.
    target!(
        "instruction_decode",
        ["memdx-analyzer/src/decode.rs:decode"],
        |d| {
            let u64_at = |o: usize| {
                d.get(o..o + 8)
                    .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            };
            let (pc, addr) = (u64_at(0), u64_at(8));
            let code = d.get(16..d.len().min(32)).unwrap_or(&[]);
            let mut regs = [0u64; memdx_events::FAULT_REGS];
            for (i, r) in regs.iter_mut().enumerate() {
                *r = u64_at(32 + 8 * i);
            }
            let _ = memdx_analyzer::decode::decode(pc, code, addr);
            let _ = memdx_analyzer::decode::fault_address(pc, code, &regs);
            let _ = memdx_analyzer::decode::non_canonical(addr);
        }
    ),
    target!(
        "record_counters",
        ["memdx-record/src/counters.rs:decode"],
        |d| {
            let _ = memdx_record::counters::decode(d);
        }
    ),
    target!(
        "units_and_options",
        [
            "memdx-record/src/timespec.rs:parse",
            "memdx-units/src/parse.rs:parse_duration",
            "memdx-units/src/parse.rs:parse_bytes",
            "memdx-units/src/parse.rs:parse_rate",
            "memdx-model/src/ps.rs:parse",
            "memdx-model/src/ps.rs:parse_sort",
            "memdx-model/src/watch.rs:parse",
            "memdx-units/src/datetime.rs:parse_since",
            "memdx-units/src/datetime.rs:parse_iso_prefix",
            "memdx-units/src/datetime.rs:parse_time_of_day",
            "memdx-kernel/src/logstamp.rs:parse_line_stamp",
            "memdx-kernel/src/logstamp.rs:parse_ctime",
        ],
        |d| {
            let t = text(d);
            let _ = memdx_units::datetime::parse_since(&t);
            let _ = memdx_units::datetime::parse_iso_prefix(&t);
            let _ = memdx_units::datetime::parse_time_of_day(&t);
            let _ = memdx_kernel::logstamp::parse_line_stamp(&t);
            let _ = memdx_kernel::logstamp::parse_ctime(&t);
            let _ = memdx_units::parse_duration(&t);
            let _ = memdx_units::parse_bytes(&t);
            let _ = memdx_units::parse_rate(&t);
            let _ =
                memdx_record::timespec::parse(&t, 1.7e9, |s| memdx_units::parse_duration(s).ok());
            let _ = memdx_model::ps::Column::parse(&t);
            let _ = memdx_model::ps::parse_sort(&t);
            let _ = memdx_model::watch::Metric::parse(&t);
        }
    ),
];

/// A recording file whose frames carry `data`'s parts as payloads.
pub fn heap_frames(data: &[u8]) -> Vec<u8> {
    let Ok(mut w) = memdx_heap::Writer::new(Vec::new()) else {
        return Vec::new();
    };
    for part in data.split(|&b| b == 0xFF).take(64) {
        if let Some((&kind, payload)) = part.split_first() {
            let sections: Vec<&[u8]> = payload.split(|&b| b == 0xFE).take(16).collect();
            if w.raw_frame(kind, &sections).is_err() {
                break;
            }
        }
    }
    w.finish().unwrap_or_default()
}

/// What `memdx heap report --leak-suspects --json` and `diff` do with a
/// recording: replay it, render every view, follow sites over time.
fn heap_report(file: &[u8]) {
    use memdx_heap::render::{GroupBy, View};
    use memdx_heap::{diff, flame, plot, render, suspects, Analysis, Reader};
    let replay = |mut a: Analysis| {
        if let Ok(reader) = Reader::new(file) {
            for rec in reader {
                match rec {
                    Ok(r) => a.add(r),
                    Err(_) => break,
                }
            }
        }
        a
    };
    let summary = replay(Analysis::new()).summary();
    let sink = &mut std::io::sink();
    for by in [GroupBy::Stack, GroupBy::Function, GroupBy::Line] {
        let _ = render::write_text(sink, &summary, by, &View::ALL, 5);
        let _ = render::write_json(sink, &summary, by, &View::ALL, 5);
    }
    let mut tracked = suspects::candidates(&summary, 8);
    tracked.extend(plot::sites_to_plot(&summary, 4));
    let timed = replay(Analysis::new().with_timeline(summary.duration_ns, 20, &tracked));
    if let Some(t) = timed.timeline() {
        let _ = suspects::leak_suspects(&summary, &t, 16384.0);
    }
    let _ = flame::folded(&summary, View::Peak);
    let half = replay(Analysis::new().until(summary.duration_ns / 2)).summary();
    let _ = diff::diff(&half, &summary, GroupBy::Function, View::Exit);
}
