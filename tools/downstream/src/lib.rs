//! logitkit's elementwise slice kernels behind a C ABI, compiled as a user's
//! library would compile them: the kernels are `#[inline]`, so they are
//! instantiated here, in this crate's codegen units, not in logitkit's.
//! `tools/downstream.sh` reads the machine code; `tools/downstream_time.py`
//! calls the functions through `ctypes`.

/// `name(x, out, n, reps)` runs `kernel(&x[..n], &mut out[..n])` `reps` times.
macro_rules! exported {
    ($($name:ident => $kernel:path),* $(,)?) => {$(
        /// # Safety
        /// `x` and `out` point to `n` valid, non-overlapping `f32`s (the
        /// only way to hand a slice over a C ABI; the timing script passes
        /// two arrays of its own).
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(x: *const f32, out: *mut f32, n: usize, reps: usize) {
            // SAFETY: the caller's contract above.
            let (x, out) = unsafe {
                (core::slice::from_raw_parts(x, n), core::slice::from_raw_parts_mut(out, n))
            };
            for _ in 0..reps {
                // Equal lengths by construction: the result is always Ok.
                let _ = $kernel(core::hint::black_box(x), out);
            }
        }
    )*};
}

exported! {
    exp_slice => logitkit::exp_into,
    ln_slice => logitkit::ln_into,
    ln_1p_slice => logitkit::ln_1p_into,
    sigmoid_slice => logitkit::sigmoid_into,
    softplus_slice => logitkit::softplus_into,
    log_sigmoid_slice => logitkit::log_sigmoid_into,
}
