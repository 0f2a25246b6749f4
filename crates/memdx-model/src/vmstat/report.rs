//! The default `vmstat` report line, with procps-ng 4.0.2's arithmetic.
//!
//! The first line averages since boot: procps divides every counter by the
//! summed ticks of *all* CPUs (`Div`) and multiplies by `HZ`, so its
//! "per second" figures are too small by the number of CPUs. That is the
//! documented quirk [`since_boot`] keeps; [`since_boot_exact`] divides by the
//! real uptime instead (`--exact-rates`).
//!
//! Later lines are deltas between two samples divided by the nominal delay,
//! computed in the C types procps uses (`unsigned long`, `int` for the
//! interrupt and context-switch deltas, `long long` for the CPU split).

use memdx_proc::{CpuTicks, ProcStat};

use super::{DataUnit, Machine, Memory, Paging};

/// One report line as printed (the values of procps' `printf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportLine {
    /// r: runnable tasks.
    pub running: u64,
    /// b: tasks blocked on I/O.
    pub blocked: u64,
    /// swpd: swap in use, in the `-S` unit.
    pub swpd: u64,
    /// free: free memory.
    pub free: u64,
    /// buff, or inact with `-a`.
    pub buff_or_inact: u64,
    /// cache, or active with `-a`.
    pub cache_or_active: u64,
    /// si: swapped in per second (unit per second).
    pub si: u32,
    /// so: swapped out per second.
    pub so: u32,
    /// bi: KiB read from block devices per second.
    pub bi: u32,
    /// bo: KiB written per second.
    pub bo: u32,
    /// in: interrupts per second.
    pub interrupts: u32,
    /// cs: context switches per second.
    pub cs: u32,
    /// us: user time, percent (guest time excluded).
    pub us: u32,
    /// sy: system + irq + softirq, percent.
    pub sy: u32,
    /// id: idle, percent.
    pub id: u32,
    /// wa: I/O wait, percent.
    pub wa: u32,
    /// st: stolen, percent.
    pub st: u32,
    /// gu: guest, percent (printed with `-w` only).
    pub gu: u32,
}

/// What the line's memory columns show and in which unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineOptions {
    /// `-S` unit.
    pub unit: DataUnit,
    /// `-a`: inactive/active instead of buff/cache.
    pub active: bool,
}

fn memory_columns(line: &mut ReportLine, mem: &Memory, opts: &LineOptions) {
    let u = opts.unit;
    line.swpd = u.convert_kib(mem.swap_used);
    line.free = u.convert_kib(mem.free);
    line.buff_or_inact = u.convert_kib(if opts.active {
        mem.inactive
    } else {
        mem.buffers
    });
    line.cache_or_active = u.convert_kib(if opts.active { mem.active } else { mem.cache });
}

/// CPU tick groups as procps forms them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct CpuSplit {
    user: i64,
    system: i64,
    idle: i64,
    iowait: i64,
    stolen: i64,
    guest: i64,
}

fn field(v: Option<u64>) -> u64 {
    v.unwrap_or(0)
}

/// procps' CPU percentages: `(100 * part + Div/2) / Div` in `long long`,
/// with guest time taken out of user time.
fn percentages(line: &mut ReportLine, mut c: CpuSplit) -> i64 {
    let mut div = c
        .user
        .wrapping_add(c.system)
        .wrapping_add(c.idle)
        .wrapping_add(c.iowait)
        .wrapping_add(c.stolen);
    if div == 0 {
        div = 1;
        c.idle = 1;
    }
    // C: `divo2 = Div / 2UL` divides as unsigned (long long meets unsigned
    // long), which differs from a signed halving when the tick sum wrapped.
    let half = ((div as u64) / 2) as i64;
    c.user = if c.user >= c.guest {
        c.user.wrapping_sub(c.guest)
    } else {
        0
    };
    // wrapping_div: i64::MIN / -1 traps in C; here it must not panic.
    let pct = |x: i64| (x.wrapping_mul(100).wrapping_add(half).wrapping_div(div)) as u32;
    line.us = pct(c.user);
    line.sy = pct(c.system);
    line.id = pct(c.idle);
    line.wa = pct(c.iowait);
    line.st = pct(c.stolen);
    line.gu = pct(c.guest);
    div
}

fn split_totals(t: &CpuTicks) -> CpuSplit {
    CpuSplit {
        user: t.user.wrapping_add(t.nice) as i64,
        system: t
            .system
            .wrapping_add(field(t.irq))
            .wrapping_add(field(t.softirq)) as i64,
        idle: t.idle as i64,
        iowait: field(t.iowait) as i64,
        stolen: field(t.steal) as i64,
        guest: field(t.guest).wrapping_add(field(t.guest_nice)) as i64,
    }
}

fn procs(line: &mut ReportLine, stat: &ProcStat) {
    line.running = field(stat.procs_running);
    line.blocked = field(stat.procs_blocked);
}

/// The first line, averaged since boot exactly as procps 4.0.2 does it
/// (rates divided by all CPUs' summed ticks: the documented quirk).
pub fn since_boot(
    stat: &ProcStat,
    paging: &Paging,
    mem: &Memory,
    machine: &Machine,
    opts: &LineOptions,
) -> ReportLine {
    let mut line = ReportLine::default();
    procs(&mut line, stat);
    memory_columns(&mut line, mem, opts);
    let div = percentages(&mut line, split_totals(&stat.total)) as u64;
    let half = div / 2;
    let hz = machine.hz;
    let kb_per_page = machine.page_size / 1024;
    // C: (unsigned long * long + long long) / long long, then (unsigned).
    let rate = |v: u64| (v.wrapping_mul(hz).wrapping_add(half) / div) as u32;
    let u = opts.unit;
    line.si = rate(u.convert_kib(paging.pswpin.wrapping_mul(kb_per_page)));
    line.so = rate(u.convert_kib(paging.pswpout.wrapping_mul(kb_per_page)));
    line.bi = rate(paging.pgpgin);
    line.bo = rate(paging.pgpgout);
    line.interrupts = rate(field(stat.interrupts));
    line.cs = rate(field(stat.context_switches));
    line
}

/// The first line with true since-boot rates: counters divided by the
/// uptime in seconds, rounded to the nearest integer (`--exact-rates`).
/// CPU percentages are the same as procps'.
pub fn since_boot_exact(
    stat: &ProcStat,
    paging: &Paging,
    mem: &Memory,
    machine: &Machine,
    opts: &LineOptions,
    uptime_seconds: f64,
) -> ReportLine {
    let mut line = since_boot(stat, paging, mem, machine, opts);
    let secs = if uptime_seconds > 0.0 {
        uptime_seconds
    } else {
        1.0
    };
    let rate = |v: u64| (v as f64 / secs + 0.5) as u32;
    let kb_per_page = machine.page_size / 1024;
    let u = opts.unit;
    line.si = rate(u.convert_kib(paging.pswpin.wrapping_mul(kb_per_page)));
    line.so = rate(u.convert_kib(paging.pswpout.wrapping_mul(kb_per_page)));
    line.bi = rate(paging.pgpgin);
    line.bo = rate(paging.pgpgout);
    line.interrupts = rate(field(stat.interrupts));
    line.cs = rate(field(stat.context_switches));
    line
}

/// State carried between interval lines: procps' "debt" for idle ticks
/// that ran backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IntervalState {
    debt: i32,
}

/// procps' tick delta: `new - old` as `signed long`, negative clamped to 0.
fn tick_delta(new: u64, old: u64) -> i64 {
    (new.wrapping_sub(old) as i64).max(0)
}

/// procps' derived tick sums (`stat_derive_unique`): user+nice,
/// system+irq+softirq, idle+iowait, busy, total (guest counted again).
fn derived_sums(t: &CpuTicks) -> [u64; 5] {
    let o = field;
    let usr = t.user.wrapping_add(t.nice);
    let sys = t.system.wrapping_add(o(t.irq)).wrapping_add(o(t.softirq));
    let idl = t.idle.wrapping_add(o(t.iowait));
    let tot = usr
        .wrapping_add(sys)
        .wrapping_add(idl)
        .wrapping_add(o(t.steal))
        .wrapping_add(o(t.guest))
        .wrapping_add(o(t.guest_nice));
    [usr, sys, idl, tot.wrapping_sub(idl), tot]
}

/// One line over an interval of `delay` seconds between two samples.
/// `mem` is whichever meminfo the caller shows: procps 4.0.2 keeps the
/// first sample's for every line (its memory columns never change), memdx's
/// `--fresh-memory` passes the current one.
#[allow(clippy::too_many_arguments)]
pub fn interval(
    prev: (&ProcStat, &Paging),
    cur: (&ProcStat, &Paging),
    mem: &Memory,
    machine: &Machine,
    opts: &LineOptions,
    delay: u32,
    state: &mut IntervalState,
) -> ReportLine {
    let (mut old, new) = (&prev.0.total, &cur.0.total);
    // procps "doesn't distort deltas when cpus are taken offline": if any
    // derived sum went backwards, the old ticks are forgotten and every
    // tick delta of this interval is 0.
    if derived_sums(new)
        .iter()
        .zip(derived_sums(old))
        .any(|(n, o)| *n < o)
    {
        old = new;
    }
    let d = |n: u64, o: u64| tick_delta(n, o);
    let o = |v: Option<u64>| field(v);
    let mut split = CpuSplit {
        user: d(new.user, old.user).wrapping_add(d(new.nice, old.nice)),
        system: d(new.system, old.system)
            .wrapping_add(d(o(new.irq), o(old.irq)))
            .wrapping_add(d(o(new.softirq), o(old.softirq))),
        idle: d(new.idle, old.idle),
        iowait: d(o(new.iowait), o(old.iowait)),
        stolen: d(o(new.steal), o(old.steal)),
        guest: d(o(new.guest), o(old.guest)).wrapping_add(d(o(new.guest_nice), o(old.guest_nice))),
    };
    // "idle can run backwards for a moment": procps carries the negative
    // part (as a C int) into the next interval.
    if state.debt != 0 {
        split.idle = i64::from((split.idle as i32).wrapping_add(state.debt));
        state.debt = 0;
    }
    if (split.idle as i32) < 0 {
        state.debt = split.idle as i32;
        split.idle = 0;
    }

    let mut line = ReportLine::default();
    procs(&mut line, cur.0);
    memory_columns(&mut line, mem, opts);
    percentages(&mut line, split);

    let delay = delay.max(1);
    let half = u64::from(delay / 2);
    let kb_per_page = machine.page_size / 1024;
    let u = opts.unit;
    let (p, c) = (prev.1, cur.1);
    let per_sec = |v: u64| (v.wrapping_add(half) / u64::from(delay)) as u32;
    line.si = per_sec(u.convert_kib(c.pswpin.wrapping_sub(p.pswpin).wrapping_mul(kb_per_page)));
    line.so = per_sec(u.convert_kib(c.pswpout.wrapping_sub(p.pswpout).wrapping_mul(kb_per_page)));
    line.bi = per_sec(c.pgpgin.wrapping_sub(p.pgpgin));
    line.bo = per_sec(c.pgpgout.wrapping_sub(p.pgpgout));
    // C: (int delta + unsigned half) / unsigned delay, all 32-bit.
    let per_sec32 = |n: Option<u64>, o: Option<u64>| {
        let delta = field(n).wrapping_sub(field(o)) as u32;
        delta.wrapping_add(delay / 2) / delay
    };
    line.interrupts = per_sec32(cur.0.interrupts, prev.0.interrupts);
    line.cs = per_sec32(cur.0.context_switches, prev.0.context_switches);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(ticks: [u64; 10], intr: u64, ctxt: u64) -> ProcStat {
        ProcStat {
            total: CpuTicks {
                user: ticks[0],
                nice: ticks[1],
                system: ticks[2],
                idle: ticks[3],
                iowait: Some(ticks[4]),
                irq: Some(ticks[5]),
                softirq: Some(ticks[6]),
                steal: Some(ticks[7]),
                guest: Some(ticks[8]),
                guest_nice: Some(ticks[9]),
            },
            interrupts: Some(intr),
            context_switches: Some(ctxt),
            procs_running: Some(1),
            procs_blocked: Some(0),
            ..Default::default()
        }
    }

    const MACHINE: Machine = Machine {
        hz: 100,
        page_size: 4096,
    };

    #[test]
    fn first_line_divides_by_all_cpus_ticks_like_procps() {
        // 2 CPUs, 100 s up: 20000 ticks. 10000 interrupts since boot are
        // 100/s really; procps prints 10000 * 100 / 20000 = 50.
        let s = stat([1000, 0, 1000, 18000, 0, 0, 0, 0, 0, 0], 10000, 20000);
        let paging = Paging {
            pgpgin: 2000,
            ..Default::default()
        };
        let mem = Memory::default();
        let opts = LineOptions::default();
        let line = since_boot(&s, &paging, &mem, &MACHINE, &opts);
        assert_eq!((line.interrupts, line.cs, line.bi), (50, 100, 10));
        assert_eq!((line.us, line.sy, line.id), (5, 5, 90));
        let exact = since_boot_exact(&s, &paging, &mem, &MACHINE, &opts, 100.0);
        assert_eq!((exact.interrupts, exact.cs, exact.bi), (100, 200, 20));
    }

    #[test]
    fn wrapped_tick_sums_use_procps_c_arithmetic() {
        // A random cpu line whose sums wrap; procps 4.0.2 -w printed
        // us sy id wa st gu = 4294967276 7 7 8 10 4294967281 for it.
        let mut s = stat(
            [
                649699198517617158,
                16022993947311483646,
                6113333991329661212,
                16478465703857514335,
                7068196794706063805,
                5415006313990732751,
                6981537414641121884,
                14622093609659047679,
                3483866075666569647,
                0,
            ],
            0,
            0,
        );
        s.total.guest_nice = None;
        let line = since_boot(
            &s,
            &Paging::default(),
            &Memory::default(),
            &MACHINE,
            &LineOptions::default(),
        );
        assert_eq!(
            (line.us, line.sy, line.id, line.wa, line.st, line.gu),
            (4294967276, 7, 7, 8, 10, 4294967281)
        );
    }

    #[test]
    fn guest_time_is_taken_out_of_user_time() {
        let s = stat([500, 0, 0, 500, 0, 0, 0, 0, 200, 0], 0, 0);
        let line = since_boot(
            &s,
            &Paging::default(),
            &Memory::default(),
            &MACHINE,
            &LineOptions::default(),
        );
        assert_eq!((line.us, line.id, line.gu), (30, 50, 20));
    }

    #[test]
    fn interval_rates_round_half_up_over_the_delay() {
        let a = stat([0; 10], 1000, 1000);
        let b = stat([10, 0, 10, 180, 0, 0, 0, 0, 0, 0], 1003, 1005);
        let pa = Paging::default();
        let pb = Paging {
            pswpin: 3,
            pgpgout: 5,
            ..Default::default()
        };
        let mut st = IntervalState::default();
        let line = interval(
            (&a, &pa),
            (&b, &pb),
            &Memory::default(),
            &MACHINE,
            &LineOptions::default(),
            2,
            &mut st,
        );
        // 3 pages * 4 KiB = 12 KiB over 2 s; 5 KiB over 2 s rounds to 3.
        assert_eq!((line.si, line.bo, line.interrupts, line.cs), (6, 3, 2, 3));
        assert_eq!((line.us, line.sy, line.id), (5, 5, 90));
    }

    #[test]
    fn all_zero_interval_counts_as_idle() {
        let a = stat([5; 10], 0, 0);
        let mut st = IntervalState::default();
        let line = interval(
            (&a, &Paging::default()),
            (&a, &Paging::default()),
            &Memory::default(),
            &MACHINE,
            &LineOptions::default(),
            1,
            &mut st,
        );
        assert_eq!((line.us, line.id), (0, 100));
    }

    #[test]
    fn idle_running_backwards_zeroes_the_whole_interval_like_procps() {
        let a = stat([100, 0, 100, 1000, 0, 0, 0, 0, 0, 0], 0, 0);
        let b = stat([150, 0, 150, 900, 0, 0, 0, 0, 0, 0], 0, 0);
        let mut st = IntervalState::default();
        let line = interval(
            (&a, &Paging::default()),
            (&b, &Paging::default()),
            &Memory::default(),
            &MACHINE,
            &LineOptions::default(),
            1,
            &mut st,
        );
        // All deltas 0: procps counts the interval as 100% idle.
        assert_eq!((line.us, line.sy, line.id), (0, 0, 100));
    }

    #[test]
    fn a_single_backwards_field_inside_a_growing_sum_counts_as_zero() {
        // iowait drops by 10 while idle grows by 20: idle+iowait still grows.
        let a = stat([100, 0, 100, 1000, 50, 0, 0, 0, 0, 0], 0, 0);
        let b = stat([150, 0, 150, 1020, 40, 0, 0, 0, 0, 0], 0, 0);
        let mut st = IntervalState::default();
        let line = interval(
            (&a, &Paging::default()),
            (&b, &Paging::default()),
            &Memory::default(),
            &MACHINE,
            &LineOptions::default(),
            1,
            &mut st,
        );
        // deltas: user 50, system 50, idle 20, iowait clamped to 0.
        assert_eq!((line.us, line.sy, line.id, line.wa), (42, 42, 17, 0));
    }
}
