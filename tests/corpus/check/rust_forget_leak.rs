/* A Rust program that leaks on purpose: a forgotten Vec and a leaked Box.
   expect: definitely lost: 164 bytes in 2 blocks */
#[inline(never)]
fn leak() {
    let v: Vec<u8> = vec![7; 100];
    std::mem::forget(std::hint::black_box(v));
    let b = Box::new([1u64; 8]);
    let r: &'static mut [u64; 8] = Box::leak(b);
    std::hint::black_box(r as *mut [u64; 8] as usize ^ 1);
}
fn main() {
    leak();
    // Make sure no register or stack slot keeps the addresses.
    let mut x = [0u64; 64];
    std::hint::black_box(&mut x);
    println!("done");
}
