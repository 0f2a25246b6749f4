//! `vmstat -s` and `vmstat -f`.

use std::io::{self, Write};

use memdx_model::vmstat::summary::StatsSummary;

/// Writes `-s`'s lines; `letter` is the `-S` unit letter as given.
pub fn write_stats(out: &mut impl Write, s: &StatsSummary, letter: char) -> io::Result<()> {
    let mem = [
        (s.total_memory, "total memory"),
        (s.used_memory, "used memory"),
        (s.active_memory, "active memory"),
        (s.inactive_memory, "inactive memory"),
        (s.free_memory, "free memory"),
        (s.buffer_memory, "buffer memory"),
        (s.swap_cache, "swap cache"),
        (s.total_swap, "total swap"),
        (s.used_swap, "used swap"),
        (s.free_swap, "free swap"),
    ];
    for (v, label) in mem {
        writeln!(out, "{v:>13} {letter} {label}")?;
    }
    let ticks = [
        (s.user_ticks, "non-nice user cpu ticks"),
        (s.nice_ticks, "nice user cpu ticks"),
        (s.system_ticks, "system cpu ticks"),
        (s.idle_ticks, "idle cpu ticks"),
        (s.iowait_ticks, "IO-wait cpu ticks"),
        (s.irq_ticks, "IRQ cpu ticks"),
        (s.softirq_ticks, "softirq cpu ticks"),
        (s.stolen_ticks, "stolen cpu ticks"),
        (s.guest_ticks, "non-nice guest cpu ticks"),
        (s.guest_nice_ticks, "nice guest cpu ticks"),
    ];
    for (v, label) in ticks {
        writeln!(out, "{v:>13} {label}")?;
    }
    let counters = [
        (s.paged_in, "K paged in"),
        (s.paged_out, "K paged out"),
        (s.pages_swapped_in, "pages swapped in"),
        (s.pages_swapped_out, "pages swapped out"),
        (s.interrupts, "interrupts"),
        (s.context_switches, "CPU context switches"),
        (s.boot_time, "boot time"),
        (s.forks, "forks"),
    ];
    for (v, label) in counters {
        writeln!(out, "{v:>13} {label}")?;
    }
    Ok(())
}

/// Writes `-f`'s line.
pub fn write_forks(out: &mut impl Write, forks: u64) -> io::Result<()> {
    writeln!(out, "{forks:>13} forks")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_lines_are_right_aligned_in_13() {
        let s = StatsSummary {
            total_memory: 24684084,
            boot_time: 1795595068,
            ..Default::default()
        };
        let mut out = Vec::new();
        write_stats(&mut out, &s, 'K').unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("     24684084 K total memory\n"));
        assert!(text.contains("   1795595068 boot time\n"));
        assert_eq!(text.lines().count(), 28);
    }

    #[test]
    fn forks_line() {
        let mut out = Vec::new();
        write_forks(&mut out, 9517).unwrap();
        assert_eq!(out, b"         9517 forks\n");
    }
}
