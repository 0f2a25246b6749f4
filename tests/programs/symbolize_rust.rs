// Leaks from a generic function (two instantiations), a method of a generic
// type and a closure, for crates/memdx/tests/check_symbolize.rs: built with
// the default (legacy) and with v0 symbol mangling, frames compared with Valgrind 3.19.
use std::hint::black_box;

pub struct Pool<T> {
    size: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T: Default + Clone> Pool<T> {
    #[inline(never)]
    pub fn leak_block(&self) {
        let v: Vec<T> = vec![T::default(); self.size];
        std::mem::forget(black_box(v));
    }
}

#[inline(never)]
fn leak_vec<T: Default + Clone>(n: usize) {
    let v: Vec<T> = vec![T::default(); n];
    std::mem::forget(black_box(v));
}

fn main() {
    leak_vec::<u32>(black_box(3));
    leak_vec::<u64>(black_box(5));
    let p = Pool::<u16> {
        size: black_box(7),
        _t: std::marker::PhantomData,
    };
    p.leak_block();
    let f = |n: usize| std::mem::forget(black_box(vec![1u8; n]));
    black_box(&f)(black_box(11));
}
