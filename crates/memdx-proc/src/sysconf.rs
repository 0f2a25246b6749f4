//! Constants of the running kernel that `/proc` figures are expressed in:
//! the clock tick rate (`USER_HZ`) and the page size. procps asks
//! `sysconf(3)` for them; so do we, falling back to procps' own defaults.

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, else 100 as procps).
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions; it only reads system constants.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as u64
    } else {
        100
    }
}

/// Page size in bytes (`sysconf(_SC_PAGESIZE)`, else 4096).
pub fn page_size() -> u64 {
    // SAFETY: as above.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as u64
    } else {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_plausible() {
        assert!(clock_ticks_per_second() >= 1);
        assert!(page_size() >= 1024 && page_size().is_power_of_two());
    }
}
