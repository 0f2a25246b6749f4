//! Unit tests of `printf.rs`: the format walk and the argument places.
use super::*;

fn convs(f: &core::ffi::CStr) -> Vec<Option<Conv>> {
    let mut s = Specs::new(f.as_ptr().cast());
    let mut v = Vec::new();
    while let Some(c) = s.next_conversion() {
        v.push(c);
        if c.is_none() {
            break;
        }
    }
    v
}

fn conv(stars: u8, prec: Option<usize>, star_prec: bool, arg: Arg) -> Option<Conv> {
    Some(Conv {
        star_width: stars > u8::from(star_prec),
        star_prec,
        prec,
        arg,
    })
}

#[test]
fn format_walk_finds_each_conversions_argument() {
    assert_eq!(
        convs(c"a %s %d %% %.3s %-*.*s %f %Lf %lu %ls %m %p"),
        vec![
            conv(0, None, false, Arg::String),
            conv(0, None, false, Arg::Gp),
            conv(0, Some(3), false, Arg::String),
            conv(2, None, true, Arg::String),
            conv(0, None, false, Arg::Fp),
            conv(0, None, false, Arg::LongDouble),
            conv(0, None, false, Arg::Gp),
            conv(0, None, false, Arg::Gp),
            conv(0, None, false, Arg::None),
            conv(0, None, false, Arg::Gp),
        ]
    );
    // `%llf` is a long double to glibc; `%b` an integer.
    assert_eq!(
        convs(c"%llf %b"),
        vec![
            conv(0, None, false, Arg::LongDouble),
            conv(0, None, false, Arg::Gp)
        ]
    );
    // `%.s` is a precision of 0; `%08.2f` a double.
    assert_eq!(
        convs(c"%.s%08.2f"),
        vec![
            conv(0, Some(0), false, Arg::String),
            conv(0, Some(2), false, Arg::Fp)
        ]
    );
}

#[test]
fn format_walk_stops_at_positional_or_unknown_conversions() {
    assert_eq!(
        convs(c"%s %1$s"),
        vec![conv(0, None, false, Arg::String), None]
    );
    assert_eq!(convs(c"%*1$d"), vec![None]);
    assert_eq!(convs(c"%y %s"), vec![None]);
    assert_eq!(convs(c"%"), vec![None]);
}

#[test]
fn va_list_walk_follows_the_abi() {
    let regs = [0usize; 6];
    let stack = [0usize; 8];
    let mut va = VaList {
        gp_offset: 40,
        fp_offset: 160,
        overflow: stack.as_ptr() as usize,
        reg_save: regs.as_ptr() as usize,
    };
    assert_eq!(va.next_gp() as usize, regs.as_ptr() as usize + 40);
    va.skip_fp();
    // Registers used up: the stack from its first word on.
    assert_eq!(va.next_gp() as usize, stack.as_ptr() as usize);
    va.skip_fp();
    assert_eq!(va.next_gp() as usize, stack.as_ptr() as usize + 16);
    va.skip_long_double();
    assert!(va.overflow >= stack.as_ptr() as usize + 40);
    assert_eq!(va.overflow % 16, 0);
}
