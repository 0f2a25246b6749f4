//! Seed inputs per target: the repository's test fixtures (real files from
//! real machines), plus inputs made here for the binary formats (event
//! stream, recording database) and for the formats without fixtures.

use std::path::{Path, PathBuf};

use crate::join_parts;

/// The repository root (this crate lives in `crates/memdx-fuzz`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file under `dir`, recursively, sorted (so the seed order, and the
/// smoke run's mutations, are the same everywhere).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

fn fixtures() -> Vec<PathBuf> {
    walk(&repo_root().join("tests/fixtures"))
}

fn name_of(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

fn parent_name(p: &Path) -> &str {
    p.parent().map(name_of).unwrap_or("")
}

fn read_all(paths: impl IntoIterator<Item = PathBuf>) -> Vec<Vec<u8>> {
    paths
        .into_iter()
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

/// Fixture files named `name` whose directory is `parent` (any when `None`).
fn named(name: &str, parent: Option<&str>) -> Vec<Vec<u8>> {
    read_all(
        fixtures()
            .into_iter()
            .filter(|p| name_of(p) == name && parent.is_none_or(|d| parent_name(p) == d)),
    )
}

/// Files ending in `ext` under `dir` (relative to the repository root).
fn with_ext(dir: &str, ext: &str) -> Vec<Vec<u8>> {
    read_all(
        walk(&repo_root().join(dir))
            .into_iter()
            .filter(|p| name_of(p).ends_with(ext)),
    )
}

/// Multi-file seeds: for each fixture directory holding `files[key]`,
/// the listed files joined in order (absent ones empty).
fn trees(files: &[&str], key: usize) -> Vec<Vec<u8>> {
    let dirs: Vec<PathBuf> = fixtures()
        .into_iter()
        .filter(|p| name_of(p) == files[key])
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    dirs.iter()
        .map(|d| {
            let parts: Vec<Vec<u8>> = files
                .iter()
                .map(|f| std::fs::read(d.join(f)).unwrap_or_default())
                .collect();
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            join_parts(&refs)
        })
        .collect()
}

fn texts(list: &[&str]) -> Vec<Vec<u8>> {
    list.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// The seeds of target `name` (empty for an unknown name): its fixtures,
/// then the inputs fuzzing once failed on (`regressions/<name>/`).
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    let regressions = read_all(walk(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("regressions")
            .join(name),
    ));
    let mut seeds = fixture_seeds(name);
    if !seeds.is_empty() {
        seeds.extend(regressions);
    }
    seeds
}

fn fixture_seeds(name: &str) -> Vec<Vec<u8>> {
    match name {
        "meminfo" => named("meminfo", None),
        "stat" => named("stat", Some("proc")),
        "vmstat" => named("vmstat", Some("proc")),
        "diskstats" => named("diskstats", None),
        "slabinfo" => named("slabinfo", None),
        "smaps" => [named("smaps", None), named("smaps_rollup", None)].concat(),
        "pressure" => texts(&[
            "some avg10=0.00 avg60=0.12 avg300=0.04 total=123456\n\
             full avg10=0.00 avg60=0.05 avg300=0.01 total=65432\n",
            "some avg10=1.50 avg60=0.00 avg300=0.00 total=0\n",
        ]),
        "uptime_loadavg" => [
            named("uptime", None),
            texts(&["0.52 0.58 0.59 3/1024 12345\n", "12345.67 24680.12\n"]),
        ]
        .concat(),
        "cgroup_memory_stat" => named("memory.stat", None),
        "cgroup_dir" => trees(
            &[
                "memory.current",
                "memory.max",
                "memory.high",
                "memory.peak",
                "memory.swap.current",
                "memory.stat",
            ],
            0,
        ),
        "process" => trees(
            &[
                "status",
                "smaps_rollup",
                "stat",
                "cgroup",
                "cmdline",
                "statm",
            ],
            0,
        )
        .into_iter()
        .map(|mut s| {
            // The fixtures have no statm; give each tree one.
            s.extend_from_slice(b"\xff2048 512 256 10 0 300 0\n");
            s
        })
        .collect(),
        "utmp" => [named("utmp", None), vec![utmp_record(7, b"alice")]].concat(),
        "kmemleak" => with_ext("tests/fixtures/kmemleak", ".txt"),
        "kmsg" => [
            with_ext("tests/fixtures/oom", ".txt"),
            read_all([repo_root().join("tests/fixtures/kmemleak/kmsg-6.8.txt")]),
        ]
        .concat(),
        "oom" => with_ext("tests/fixtures/oom", ".txt"),
        "kallsyms" => [
            read_all([repo_root().join("tests/fixtures/kmemleak/kallsyms-6.13.txt")]),
            texts(&[
                "ffffffff81000000 T _stext\nffffffff81001000 t do_one_initcall\n\
                 ffffffffc0a01000 t leak_init\t[kmemleak_test]\n",
            ]),
        ]
        .concat(),
        "slab" => [
            with_ext("tests/fixtures/slab", ".txt"),
            named("slabinfo", None).into_iter().take(4).collect(),
        ]
        .concat(),
        "suppressions" => [
            with_ext("crates/memdx-supp", ".supp"),
            with_ext("crates/memdx-report/tests/programs", ".supp"),
            with_ext("tests/programs", ".supp"),
            texts(&["definite,possible", "all", "none"]),
        ]
        .concat(),
        "valgrind_xml" => xml_seeds(),
        "report_json" => json_seeds(),
        "event_stream" => event_seeds(),
        "record_db" => db_seed().into_iter().collect(),
        "heap_recording" => heap_seeds(),
        "instruction_decode" => instruction_seeds(),
        "record_counters" => {
            let mut out = Vec::new();
            memdx_record::counters::encode([(1, 10), (2, 20), (300, u64::MAX)], &mut out);
            vec![out, Vec::new()]
        }
        "units_and_options" => texts(&[
            "10s",
            "1.5GiB",
            "250ms",
            "5MB/s",
            "-1h",
            "now",
            "1765087200.5",
            "2026-12-07T06:00:00Z",
            "2026-12-07 06:00:00",
            "-rss,+pss,uss",
            "working-set",
            "%mem",
        ]),
        _ => Vec::new(),
    }
}

fn xml_seeds() -> Vec<Vec<u8>> {
    with_ext("crates/memdx-fuzz/seeds/valgrind_xml", ".xml")
}

/// JSON reports: the XML seeds read and written as memdx's JSON.
fn json_seeds() -> Vec<Vec<u8>> {
    xml_seeds()
        .iter()
        .filter_map(|x| memdx_report::xml::read(&String::from_utf8_lossy(x)).ok())
        .filter_map(|r| {
            let mut out = Vec::new();
            memdx_report::json::write(&r, &mut out).ok().map(|()| out)
        })
        .collect()
}

fn utmp_record(kind: i16, user: &[u8]) -> Vec<u8> {
    // struct utmp on x86_64 glibc: 384 bytes; ut_type first, ut_user at 44.
    let mut r = vec![0u8; 384];
    r[0..2].copy_from_slice(&kind.to_le_bytes());
    r[44..44 + user.len()].copy_from_slice(user);
    r
}

/// Streams as the runtime writes them: a header, then one record of every
/// kind the encoder knows.
fn event_seeds() -> Vec<Vec<u8>> {
    use memdx_events::{Encoder, Header, VERSION};
    let header = Header {
        version: VERSION,
        pointer_size: 8,
        pid: 4242,
        ppid: 1,
        flags: 0,
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut e = Encoder::new(&mut buf);
    e.module(
        0x5555_0000_0000,
        0x5555_0000_1000,
        0x5555_0000_9000,
        b"/usr/bin/prog",
    );
    e.stack(1, &[0x5555_0000_1234, 0x5555_0000_2345, 0x7fff_0000_0001]);
    e.command_line(b"./prog\0arg\0");
    e.scan_stats(3, 4096, 1000);
    e.heuristic_total(memdx_events::Heuristic::StdString, 32, 1);
    e.fatal_signal(11, 1, 0x10, 1);
    e.stack_overflow(4242, 0x7fff_0000_0000);
    e.fault_regs(&[7; memdx_events::FAULT_REGS]);
    e.report_end(true);
    let records = e.finish().map(<[u8]>::to_vec).unwrap_or_default();
    let mut stream = header.encode().to_vec();
    stream.extend_from_slice(&records);
    vec![stream, header.encode().to_vec()]
}

/// A recording with two samples, made by the store itself.
fn db_seed() -> Option<Vec<u8>> {
    use memdx_record::{CgroupSample, ProcessSample, Sample, Store};
    let dir = std::env::temp_dir().join(format!("memdx-fuzz-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join("seed.db");
    let _ = std::fs::remove_file(&path);
    {
        let mut store = Store::open(&path).ok()?;
        let meminfo = named("meminfo", None).into_iter().next()?;
        let meminfo = memdx_proc::MemInfo::parse(&String::from_utf8_lossy(&meminfo)).ok()?;
        for (i, rss) in [(0.0, 1 << 20), (10.0, 2 << 20)] {
            let sample = Sample {
                time: 1.765e9 + i,
                meminfo: meminfo.clone(),
                processes: vec![ProcessSample {
                    pid: 100,
                    name: "leaky".into(),
                    cmdline: "./leaky --grow".into(),
                    cgroup: Some("/user.slice".into()),
                    rss: Some(rss),
                    ..Default::default()
                }],
                cgroups: vec![CgroupSample {
                    path: "/user.slice".into(),
                    current: rss,
                    ..Default::default()
                }],
                ..Default::default()
            };
            store.insert(&sample).ok()?;
        }
    }
    let bytes = std::fs::read(&path).ok();
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

/// `memdx heap` recordings: a whole file written by the writer (mode byte
/// 0), and the same content as bare payloads for the framed mode (the
/// events frame's columns separated by 0xFE).
fn heap_seeds() -> Vec<Vec<u8>> {
    use memdx_heap::{Event, Exit, SymFrame, Writer};
    let events = [
        Event::Alloc {
            time: 1_000,
            ptr: 0x10,
            size: 100,
            stack: 1,
        },
        Event::Alloc {
            time: 2_000,
            ptr: 0x20,
            size: 4096,
            stack: 2,
        },
        Event::Free {
            time: 3_000,
            ptr: 0x10,
        },
        Event::Alloc {
            time: 9_000,
            ptr: 0x30,
            size: 24,
            stack: 1,
        },
    ];
    let frame = |addr: u64, f: &str| SymFrame {
        addr,
        function: Some(f.into()),
        file: Some("prog.c".into()),
        line: 7,
        object: Some("/usr/bin/prog".into()),
    };
    let whole = (|| {
        let mut w = Writer::new(Vec::new()).ok()?;
        w.meta(0, 4242, b"./prog\0arg\0").ok()?;
        w.modules(&[memdx_heap::LoadedModule {
            bias: 0x5555_0000_0000,
            start: 0x5555_0000_1000,
            end: 0x5555_0000_9000,
            path: b"/usr/bin/prog".to_vec(),
        }])
        .ok()?;
        w.stacks(&[
            (1, vec![0x5555_0000_1234, 0x5555_0000_2345]),
            (2, vec![0x5555_0000_3456]),
        ])
        .ok()?;
        w.events(&events).ok()?;
        w.symbols(&[
            (1, vec![frame(0x5555_0000_1233, "leak")]),
            (2, vec![frame(0x5555_0000_3455, "keep")]),
        ])
        .ok()?;
        w.attach(1 << 20).ok()?;
        w.end(Exit::Exited(0), 10_000).ok()?;
        w.finish().ok()
    })()
    .unwrap_or_default();
    // The same frames' payloads, varint-coded as the format documents.
    fn v(out: &mut Vec<u8>, mut x: u64) {
        while x >= 0x80 {
            out.push(x as u8 | 0x80);
            x >>= 7;
        }
        out.push(x as u8);
    }
    let mut meta = vec![1u8];
    v(&mut meta, 0);
    v(&mut meta, 4242);
    v(&mut meta, 6);
    meta.extend_from_slice(b"./prog");
    let mut stacks = vec![3u8];
    for x in [1, 1, 2, 0x5555_0000_1234, 0x5555_0000_2345] {
        v(&mut stacks, x);
    }
    // Events, column by column (format.rs `col`): count, release bits,
    // time deltas, size low bytes and high varints, stacks, release
    // distances' low bytes and high varints.
    let columns: [&[u8]; 8] = [
        &[4],
        &[0b0100],
        &[1, 1, 1, 1],
        &[100, 200, 24],
        &[0, 0, 0],
        &[1, 1, 1],
        &[2],
        &[0],
    ];
    let mut evs = vec![4u8];
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            evs.push(0xFE);
        }
        evs.extend_from_slice(c);
    }
    let mut end = vec![6u8];
    for x in [1, 11, 10_000] {
        v(&mut end, x);
    }
    let framed = [&[1u8][..], &join_parts(&[&meta, &stacks, &evs, &end])].concat();
    vec![[&[0u8][..], &whole].concat(), framed]
}

/// Faulting instructions as the runtime sends them: a 4-byte load
/// `mov eax, [rdi+0x28]`, a store `mov qword [rax], rdx`, `rep movsb`, an
/// AVX2 load, and bytes that decode to nothing, each at a made-up pc and
/// address with the registers zero but rdi/rax.
fn instruction_seeds() -> Vec<Vec<u8>> {
    let codes: [&[u8]; 5] = [
        &[0x8b, 0x47, 0x28],
        &[0x48, 0x89, 0x10],
        &[0xf3, 0xa4],
        &[0xc5, 0xfe, 0x6f, 0x06],
        &[0x0f, 0x0b],
    ];
    codes
        .iter()
        .map(|code| {
            let mut s = Vec::new();
            s.extend_from_slice(&0x5555_0000_1234u64.to_le_bytes());
            s.extend_from_slice(&0x6000_0000_0028u64.to_le_bytes());
            let mut c = [0x90u8; 16];
            c[..code.len()].copy_from_slice(code);
            s.extend_from_slice(&c);
            for i in 0..memdx_events::FAULT_REGS {
                let r: u64 = if i == 0 || i == 7 {
                    0x6000_0000_0000
                } else {
                    0
                };
                s.extend_from_slice(&r.to_le_bytes());
            }
            s
        })
        .collect()
}
