//! Dynamically quantized matrix products, as PyTorch's `quantize_dynamic` and CTranslate2's int8
//! compute them: int8 weights with one symmetric scale per output row (made once), activations
//! quantized per row at run time, products accumulated in i32 and scaled back to f32.
//!
//! Activations are unsigned 8-bit with a zero point, as PyTorch quantizes them: each row's range
//! `[min(x, 0), max(x, 0)]` in 255 steps, `x ≈ scale · (q - zero_point)`. A symmetric row gets the
//! resolution of signed int8; a one-sided one (after a GELU or ReLU) twice that.
//!
//! The weight is stored in the layout the AVX-512 VNNI kernel reads: panels of [`NR`] output
//! columns, each holding for every group of four inputs the 4 bytes of each column next to each
//! other (`vpdpbusd` multiplies 4 unsigned bytes of the activation by 4 signed bytes of the
//! weight and adds the 4 products to an i32 lane). The `zero_point · Σ w` the offset adds to each
//! output is subtracted once per output (`column_sums`). Without VNNI, a portable loop computes
//! the same integers from the same layout.

/// Runs `f(0..tasks)`, on the thread pool when `parallel` (and the pool exists).
fn for_each_task(tasks: usize, parallel: bool, f: impl Fn(usize) + Send + Sync) {
    #[cfg(feature = "flex")]
    if parallel {
        use rayon::prelude::*;
        (0..tasks).into_par_iter().for_each(f);
        return;
    }
    let _ = parallel;
    (0..tasks).for_each(f)
}

/// The output pointer handed to the tasks, each writing its own columns.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: every task writes a disjoint part of the output.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer; a method, so closures capture the whole (`Send`) wrapper.
    fn get(self) -> *mut f32 {
        self.0
    }
}

fn threads() -> usize {
    #[cfg(feature = "flex")]
    return rayon::current_num_threads();
    #[cfg(not(feature = "flex"))]
    1
}

/// Output columns per panel: four 16-lane i32 registers.
pub(crate) const NR: usize = 64;
/// Rows per kernel call: 6 x 4 accumulators, 4 weight registers and a broadcast fit in 32.
const MR: usize = 6;
/// Weight bytes of the panels one task keeps hot while it runs down every row block.
const PANEL_GROUP_BYTES: usize = 512 * 1024;

/// An int8 weight `[d_output, d_input]` (PyTorch's layout) quantized per output row, packed.
#[derive(Clone)]
pub struct PackedInt8 {
    d_input: usize,
    d_output: usize,
    /// `d_input` rounded up to a multiple of 4 (zero weights in the padding).
    padded_input: usize,
    /// `panels * padded_input * NR` bytes, panel-major (see the module doc).
    values: Vec<i8>,
    /// `Σ_k w[j, k]` per output column (`panels * NR`, zero in the padding).
    column_sums: Vec<i32>,
    /// `absmax / 127` per output column (`panels * NR`).
    scales: Vec<f32>,
}

impl std::fmt::Debug for PackedInt8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedInt8 [{}, {}]", self.d_output, self.d_input)
    }
}

impl PackedInt8 {
    /// Quantizes `weight` `[d_input, d_output]` (Burn's layout, row-major: column `j` is output
    /// `j`, PyTorch's row) to int8 with one symmetric scale per output, `absmax / 127`, rounding
    /// to nearest (ties to even).
    pub fn quantize(weight: &[f32], d_input: usize, d_output: usize) -> Self {
        assert_eq!(
            weight.len(),
            d_output * d_input,
            "weight of [{d_input}, {d_output}]"
        );
        let padded_input = d_input.next_multiple_of(4);
        let panels = d_output.div_ceil(NR);
        let mut values = vec![0i8; panels * padded_input * NR];
        let mut column_sums = vec![0i32; panels * NR];
        let mut scales = vec![0f32; panels * NR];
        let values_ptr = SendPtr(values.as_mut_ptr().cast());
        let columns_ptr = (
            SendPtr(column_sums.as_mut_ptr().cast()),
            SendPtr(scales.as_mut_ptr()),
        );
        let avx512 = has_avx512();
        for_each_task(panels, d_output * d_input >= 1 << 16, |panel| {
            // SAFETY: each task writes its own panel of the three buffers (sized above).
            let (values, column_sums, scales) = unsafe {
                (
                    std::slice::from_raw_parts_mut(
                        values_ptr.get().cast::<i8>().add(panel * padded_input * NR),
                        padded_input * NR,
                    ),
                    std::slice::from_raw_parts_mut(
                        columns_ptr.0.get().cast::<i32>().add(panel * NR),
                        NR,
                    ),
                    std::slice::from_raw_parts_mut(columns_ptr.1.get().add(panel * NR), NR),
                )
            };
            let panel = PanelSource {
                weight,
                d_input,
                d_output,
                first: panel * NR,
                columns: NR.min(d_output - panel * NR),
            };
            #[cfg(target_arch = "x86_64")]
            if avx512 && panel.columns == NR {
                // SAFETY: the CPU has AVX-512F; the panel is full.
                return unsafe { panel.pack_avx512(values, column_sums, scales) };
            }
            let _ = avx512;
            panel.pack(values, column_sums, scales);
        });
        Self {
            d_input,
            d_output,
            padded_input,
            values,
            column_sums,
            scales,
        }
    }

    /// `[d_input, d_output]`.
    pub fn dims(&self) -> [usize; 2] {
        [self.d_input, self.d_output]
    }

    /// Bytes held: the int8 values (with panel padding) and the per-column scales and sums.
    pub fn stored_bytes(&self) -> usize {
        self.values.len() + 4 * (self.column_sums.len() + self.scales.len())
    }

    /// The weight the products use, `q · scale`, as f32 `[d_input, d_output]` (Burn's layout).
    pub fn dequantize(&self) -> Vec<f32> {
        let (n, kp) = (self.d_output, self.padded_input);
        let mut out = vec![0f32; self.d_input * n];
        for (k, row) in out.chunks_exact_mut(n).enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                let (panel, c) = (j / NR, j % NR);
                let q = self.values[panel * kp * NR + (k / 4) * NR * 4 + c * 4 + k % 4];
                *v = f32::from(q) * self.scales[j];
            }
        }
        out
    }

    /// `out = x W (+ bias)` for `x` `[rows, d_input]` (row-major), `out` `[rows, d_output]`.
    pub fn matmul(&self, x: &[f32], rows: usize, bias: Option<&[f32]>, out: &mut [f32]) {
        let (k, n, kp) = (self.d_input, self.d_output, self.padded_input);
        assert_eq!(x.len(), rows * k);
        assert_eq!(out.len(), rows * n);
        assert!(bias.is_none_or(|b| b.len() == n));
        if rows == 0 || n == 0 {
            return;
        }
        let quantized = quantize_rows(x, rows, k, kp);
        let panels = n.div_ceil(NR);
        let group = (PANEL_GROUP_BYTES / (kp * NR)).clamp(1, panels);
        // At least one task per thread, whole panel groups otherwise.
        let tasks = panels.div_ceil(group).max(threads()).min(panels);
        let per_task = panels.div_ceil(tasks);
        let out_ptr = SendPtr(out.as_mut_ptr());
        let vnni = has_vnni();
        let run = |task: usize| {
            let first = task * per_task;
            let last = (first + per_task).min(panels);
            let mut start = first;
            while start < last {
                let end = (start + group).min(last);
                let mut row = 0;
                while row < rows {
                    let mr = MR.min(rows - row);
                    for panel in start..end {
                        let tile = Tile {
                            rows: mr,
                            quads: kp / 4,
                            activations: &quantized.bytes[row * kp..(row + mr) * kp],
                            row_stride: kp,
                            row_scales: &quantized.scales[row..row + mr],
                            zero_points: &quantized.zero_points[row..row + mr],
                            weights: &self.values[panel * kp * NR..(panel + 1) * kp * NR],
                            column_sums: &self.column_sums[panel * NR..(panel + 1) * NR],
                            column_scales: &self.scales[panel * NR..(panel + 1) * NR],
                            bias: bias.map(|b| &b[panel * NR..(panel * NR + NR).min(n)]),
                            columns: NR.min(n - panel * NR),
                        };
                        // SAFETY: rows `row..row + mr`, columns of `panel` of the output are
                        // this task's alone; the tile's pointer arithmetic stays in `out`.
                        unsafe {
                            let dst = out_ptr.get().add(row * n + panel * NR);
                            tile.run(vnni, dst, n);
                        }
                    }
                    row += mr;
                }
                start = end;
            }
        };
        for_each_task(tasks, tasks > 1 && rows * kp * n >= 1 << 20, run);
    }
}

/// The columns `first..first + columns` of a `[d_input, d_output]` weight, to be packed into one
/// panel.
struct PanelSource<'a> {
    weight: &'a [f32],
    d_input: usize,
    d_output: usize,
    first: usize,
    columns: usize,
}

impl PanelSource<'_> {
    fn at(&self, k: usize, c: usize) -> f32 {
        self.weight[k * self.d_output + self.first + c]
    }

    /// Scales (`absmax / 127` per column) and their inverses.
    fn scales(&self, scales: &mut [f32]) -> [f32; NR] {
        let mut absmax = [0f32; NR];
        for k in 0..self.d_input {
            for (c, m) in absmax.iter_mut().enumerate().take(self.columns) {
                *m = m.max(self.at(k, c).abs());
            }
        }
        let mut inverse = [0f32; NR];
        for c in 0..self.columns {
            scales[c] = absmax[c] / 127.0;
            inverse[c] = if absmax[c] > 0.0 {
                127.0 / absmax[c]
            } else {
                0.0
            };
        }
        inverse
    }

    fn pack(&self, values: &mut [i8], column_sums: &mut [i32], scales: &mut [f32]) {
        let inverse = self.scales(scales);
        for k in 0..self.d_input {
            for c in 0..self.columns {
                let q = (self.at(k, c) * inverse[c])
                    .round_ties_even()
                    .clamp(-127.0, 127.0) as i8;
                column_sums[c] += i32::from(q);
                values[(k / 4) * NR * 4 + c * 4 + k % 4] = q;
            }
        }
    }

    /// [`pack`](Self::pack) of a full panel, 16 columns at a time: the 4 bytes of one column
    /// for 4 inputs are one i32 lane, so a quad of inputs is 4 loads, shifts and one store.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn pack_avx512(&self, values: &mut [i8], column_sums: &mut [i32], scales: &mut [f32]) {
        use std::arch::x86_64::*;
        let row = |k: usize, c: usize| k * self.d_output + self.first + c;
        let mut absmax = [_mm512_setzero_ps(); NR / 16];
        for k in 0..self.d_input {
            for (g, m) in absmax.iter_mut().enumerate() {
                // SAFETY: the panel is full: columns `first..first + NR` exist in every row.
                let v = unsafe { _mm512_loadu_ps(self.weight.as_ptr().add(row(k, 16 * g))) };
                *m = _mm512_max_ps(*m, _mm512_abs_ps(v));
            }
        }
        let (low, high) = (_mm512_set1_epi32(-127), _mm512_set1_epi32(127));
        let byte = _mm512_set1_epi32(0xff);
        for (g, m) in absmax.iter().enumerate() {
            let scale = _mm512_div_ps(*m, _mm512_set1_ps(127.0));
            let positive = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(*m, _mm512_setzero_ps());
            let inverse = _mm512_maskz_div_ps(positive, _mm512_set1_ps(127.0), *m);
            // SAFETY: `scales` holds NR floats.
            unsafe { _mm512_storeu_ps(scales.as_mut_ptr().add(16 * g), scale) };
            let mut sums = _mm512_setzero_si512();
            for quad in 0..self.d_input.div_ceil(4) {
                let mut packed = _mm512_setzero_si512();
                for i in 0..4.min(self.d_input - 4 * quad) {
                    // SAFETY: as above; the default rounding is to nearest even.
                    let q = unsafe {
                        let v =
                            _mm512_loadu_ps(self.weight.as_ptr().add(row(4 * quad + i, 16 * g)));
                        _mm512_cvtps_epi32(_mm512_mul_ps(v, inverse))
                    };
                    let q = _mm512_min_epi32(_mm512_max_epi32(q, low), high);
                    sums = _mm512_add_epi32(sums, q);
                    let shifted = _mm512_sllv_epi32(
                        _mm512_and_si512(q, byte),
                        _mm512_set1_epi32(8 * i as i32),
                    );
                    packed = _mm512_or_si512(packed, shifted);
                }
                // SAFETY: bytes `quad * 4 NR + 64 g ..+ 64` of the panel.
                unsafe {
                    _mm512_storeu_si512(
                        values.as_mut_ptr().add(quad * NR * 4 + 64 * g).cast(),
                        packed,
                    )
                };
            }
            // SAFETY: `column_sums` holds NR integers.
            unsafe { _mm512_storeu_si512(column_sums.as_mut_ptr().add(16 * g).cast(), sums) };
        }
    }
}

/// One kernel call: `rows` (≤ [`MR`]) rows of activations times one panel of weights.
struct Tile<'a> {
    rows: usize,
    quads: usize,
    activations: &'a [u8],
    row_stride: usize,
    row_scales: &'a [f32],
    zero_points: &'a [i32],
    weights: &'a [i8],
    column_sums: &'a [i32],
    column_scales: &'a [f32],
    bias: Option<&'a [f32]>,
    /// Valid output columns of the panel (≤ [`NR`]).
    columns: usize,
}

impl Tile<'_> {
    /// Writes the `rows x columns` outputs at `dst` (row stride `ldc`).
    ///
    /// # Safety
    /// `dst` must be valid for those writes, and `vnni` true only where the CPU has
    /// AVX-512 F, BW and VNNI.
    unsafe fn run(&self, vnni: bool, dst: *mut f32, ldc: usize) {
        #[cfg(target_arch = "x86_64")]
        if vnni {
            // SAFETY: the caller checked the CPU features; the kernel reads within the tile's
            // slices and writes `rows x columns` floats at `dst`.
            unsafe {
                match self.rows {
                    6 => return self.vnni::<6>(dst, ldc),
                    5 => return self.vnni::<5>(dst, ldc),
                    4 => return self.vnni::<4>(dst, ldc),
                    3 => return self.vnni::<3>(dst, ldc),
                    2 => return self.vnni::<2>(dst, ldc),
                    _ => return self.vnni::<1>(dst, ldc),
                }
            }
        }
        let _ = vnni;
        let mut acc = [0i32; NR];
        for r in 0..self.rows {
            acc.fill(0);
            let a = &self.activations[r * self.row_stride..][..self.quads * 4];
            for (q, quad) in a.chunks_exact(4).enumerate() {
                let w = &self.weights[q * NR * 4..(q + 1) * NR * 4];
                for (c, acc) in acc.iter_mut().enumerate() {
                    for (i, &a) in quad.iter().enumerate() {
                        *acc += i32::from(a) * i32::from(w[c * 4 + i]);
                    }
                }
            }
            for c in 0..self.columns {
                let v = self.output(acc[c], r, c);
                // SAFETY: row `r`, column `c < columns` of the caller's tile.
                unsafe { *dst.add(r * ldc + c) = v };
            }
        }
    }

    /// The f32 output of an i32 sum of `q · w` at (row, column).
    #[inline(always)]
    fn output(&self, acc: i32, row: usize, column: usize) -> f32 {
        let offset = self.zero_points[row].wrapping_mul(self.column_sums[column]);
        let sum = acc.wrapping_sub(offset) as f32;
        let bias = self.bias.map_or(0.0, |b| b[column]);
        // One rounding, as the vector kernel's fused multiply-add.
        sum.mul_add(self.column_scales[column] * self.row_scales[row], bias)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn vnni<const ROWS: usize>(&self, dst: *mut f32, ldc: usize) {
        use std::arch::x86_64::*;
        let mut acc = [[_mm512_setzero_si512(); 4]; ROWS];
        let a = self.activations.as_ptr();
        let mut w = self.weights.as_ptr();
        for q in 0..self.quads {
            // SAFETY: `weights` holds `quads * 256` bytes and `activations` `ROWS` rows of
            // `quads * 4` bytes at `row_stride`.
            unsafe {
                let w0 = _mm512_loadu_si512(w.cast());
                let w1 = _mm512_loadu_si512(w.add(64).cast());
                let w2 = _mm512_loadu_si512(w.add(128).cast());
                let w3 = _mm512_loadu_si512(w.add(192).cast());
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = a
                        .add(r * self.row_stride + 4 * q)
                        .cast::<i32>()
                        .read_unaligned();
                    let x = _mm512_set1_epi32(x);
                    acc[0] = _mm512_dpbusd_epi32(acc[0], x, w0);
                    acc[1] = _mm512_dpbusd_epi32(acc[1], x, w1);
                    acc[2] = _mm512_dpbusd_epi32(acc[2], x, w2);
                    acc[3] = _mm512_dpbusd_epi32(acc[3], x, w3);
                }
                w = w.add(256);
            }
        }
        for j in 0..4 {
            let valid = self.columns.saturating_sub(16 * j).min(16);
            let mask: __mmask16 = if valid == 16 {
                0xffff
            } else {
                (1u16 << valid) - 1
            };
            // SAFETY: the panel's per-column arrays hold NR entries; the bias only `columns`
            // (masked load); stores are masked to the valid columns.
            unsafe {
                let sums = _mm512_loadu_si512(self.column_sums.as_ptr().add(16 * j).cast());
                let scale = _mm512_loadu_ps(self.column_scales.as_ptr().add(16 * j));
                let bias = match self.bias {
                    Some(b) => _mm512_maskz_loadu_ps(mask, b.as_ptr().add(16 * j)),
                    None => _mm512_setzero_ps(),
                };
                for (r, acc) in acc.iter().enumerate() {
                    let offset = _mm512_mullo_epi32(sums, _mm512_set1_epi32(self.zero_points[r]));
                    let sum = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[j], offset));
                    let s = _mm512_mul_ps(scale, _mm512_set1_ps(self.row_scales[r]));
                    let y = _mm512_fmadd_ps(sum, s, bias);
                    _mm512_mask_storeu_ps(dst.add(r * ldc + 16 * j), mask, y);
                }
            }
        }
    }
}

/// Whether the CPU has AVX-512F, checked once.
fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVX512.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether the CPU has AVX-512 VNNI (with F and BW), checked once.
fn has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static VNNI: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *VNNI.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vnni")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Activations quantized per row: `bytes` `[rows, kp]` (padding holds the zero point, i.e. 0).
struct QuantizedRows {
    bytes: Vec<u8>,
    scales: Vec<f32>,
    zero_points: Vec<i32>,
}

/// Each row of `x` `[rows, k]` quantized to `u8` (see the module doc). A row with a NaN gets a
/// NaN scale, so its outputs are NaN as PyTorch's would be.
fn quantize_rows(x: &[f32], rows: usize, k: usize, kp: usize) -> QuantizedRows {
    let mut bytes = vec![0u8; rows * kp];
    let mut scales = vec![0f32; rows];
    let mut zero_points = vec![0i32; rows];
    let bytes_ptr = SendPtr(bytes.as_mut_ptr().cast());
    let scales_ptr = SendPtr(scales.as_mut_ptr());
    let zero_points_ptr = SendPtr(zero_points.as_mut_ptr().cast());
    for_each_task(rows, rows * k >= 1 << 16, |row| {
        // SAFETY: each task writes its own row of the three buffers.
        let (out, scale, zero_point) = unsafe {
            (
                std::slice::from_raw_parts_mut(bytes_ptr.get().cast::<u8>().add(row * kp), kp),
                &mut *scales_ptr.get().add(row),
                &mut *zero_points_ptr.get().cast::<i32>().add(row),
            )
        };
        let params = RowParams::of(&x[row * k..(row + 1) * k]);
        params.quantize(&x[row * k..(row + 1) * k], &mut out[..k]);
        out[k..].fill(params.zero_point as u8);
        *scale = params.scale;
        *zero_point = params.zero_point;
    });
    QuantizedRows {
        bytes,
        scales,
        zero_points,
    }
}

/// A row's quantization: `x ≈ scale · (q - zero_point)`, `q` in 0..=255.
struct RowParams {
    scale: f32,
    inverse: f32,
    zero_point: i32,
}

impl RowParams {
    fn of(x: &[f32]) -> Self {
        let (min, max, nan) = min_max(x);
        let (min, max) = (min.min(0.0), max.max(0.0));
        let scale = (max - min) / 255.0;
        if nan {
            return Self {
                scale: f32::NAN,
                inverse: 0.0,
                zero_point: 0,
            };
        }
        if scale == 0.0 || !scale.is_finite() {
            // All zeros (or infinities, which int8 cannot hold): every q is the zero point.
            return Self {
                scale: if scale == 0.0 { 0.0 } else { f32::NAN },
                inverse: 0.0,
                zero_point: 0,
            };
        }
        Self {
            scale,
            inverse: 1.0 / scale,
            zero_point: (-min / scale).round_ties_even().clamp(0.0, 255.0) as i32,
        }
    }

    fn quantize(&self, x: &[f32], out: &mut [u8]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return unsafe { self.quantize_avx512(x, out) };
        }
        self.quantize_scalar(x, out)
    }

    fn quantize_scalar(&self, x: &[f32], out: &mut [u8]) {
        for (o, &v) in out.iter_mut().zip(x) {
            let q = (v * self.inverse).round_ties_even() as i32 + self.zero_point;
            *o = q.clamp(0, 255) as u8;
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn quantize_avx512(&self, x: &[f32], out: &mut [u8]) {
        use std::arch::x86_64::*;
        let full = x.len() / 16 * 16;
        let inverse = _mm512_set1_ps(self.inverse);
        let zero_point = _mm512_set1_epi32(self.zero_point);
        let (low, high) = (_mm512_setzero_si512(), _mm512_set1_epi32(255));
        for j in (0..full).step_by(16) {
            // SAFETY: j + 16 <= len for `x` and `out`; the default rounding is to nearest even.
            unsafe {
                let v = _mm512_mul_ps(_mm512_loadu_ps(x.as_ptr().add(j)), inverse);
                let q = _mm512_add_epi32(_mm512_cvtps_epi32(v), zero_point);
                let q = _mm512_min_epi32(_mm512_max_epi32(q, low), high);
                _mm_storeu_si128(out.as_mut_ptr().add(j).cast(), _mm512_cvtepi32_epi8(q));
            }
        }
        self.quantize_scalar(&x[full..], &mut out[full..]);
    }
}

/// Minimum, maximum and whether there is a NaN.
fn min_max(x: &[f32]) -> (f32, f32, bool) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked just above).
        return unsafe { min_max_avx512(x) };
    }
    min_max_scalar(x)
}

fn min_max_scalar(x: &[f32]) -> (f32, f32, bool) {
    x.iter().fold((0f32, 0f32, false), |(lo, hi, nan), &v| {
        (lo.min(v), hi.max(v), nan || v.is_nan())
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn min_max_avx512(x: &[f32]) -> (f32, f32, bool) {
    use std::arch::x86_64::*;
    let full = x.len() / 16 * 16;
    let (mut lo, mut hi) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let mut nan: __mmask16 = 0;
    for j in (0..full).step_by(16) {
        // SAFETY: j + 16 <= len.
        let v = unsafe { _mm512_loadu_ps(x.as_ptr().add(j)) };
        nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
        lo = _mm512_min_ps(lo, v);
        hi = _mm512_max_ps(hi, v);
    }
    let (tail_lo, tail_hi, tail_nan) = min_max_scalar(&x[full..]);
    (
        _mm512_reduce_min_ps(lo).min(tail_lo),
        _mm512_reduce_max_ps(hi).max(tail_hi),
        nan != 0 || tail_nan,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7919 + seed * 104_729) % 1999) as f32 / 1999.0 - 0.5) * 3.0)
            .collect()
    }

    /// The integer result the kernels must reproduce: quantize both sides as documented and
    /// accumulate exactly.
    fn reference(x: &[f32], w: &[f32], rows: usize, k: usize, n: usize, bias: &[f32]) -> Vec<f32> {
        let packed = PackedInt8::quantize(w, k, n);
        let dequantized = packed.dequantize();
        let rows_q = quantize_rows(x, rows, k, packed.padded_input);
        let mut out = vec![0f32; rows * n];
        for r in 0..rows {
            for j in 0..n {
                let wq = |p: usize| (dequantized[p * n + j] / packed.scales[j]).round() as i64;
                let zero_point = i64::from(rows_q.zero_points[r]);
                let sum: i64 = (0..k)
                    .map(|p| {
                        (i64::from(rows_q.bytes[r * packed.padded_input + p]) - zero_point) * wq(p)
                    })
                    .sum();
                out[r * n + j] = sum as f32 * (packed.scales[j] * rows_q.scales[r]) + bias[j];
            }
        }
        out
    }

    #[test]
    fn products_match_the_integer_definition() {
        for (rows, k, n) in [
            (1, 64, 64),
            (5, 101, 70),
            (13, 256, 200),
            (7, 3, 5),
            (40, 768, 130),
        ] {
            // Symmetric rows, and one-sided ones (as after a GELU): zero points inside the range.
            let mut x = values(rows * k, 1);
            if n % 2 == 0 {
                x.iter_mut().for_each(|v| *v = v.max(-0.17));
            }
            let w = values(n * k, 2);
            let bias = values(n, 3);
            let want = reference(&x, &w, rows, k, n, &bias);
            let packed = PackedInt8::quantize(&w, k, n);
            let mut got = vec![0f32; rows * n];
            packed.matmul(&x, rows, Some(&bias), &mut got);
            for (i, (a, b)) in want.iter().zip(&got).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + a.abs()),
                    "{rows}x{k}x{n} [{i}]: {a} vs {b}"
                );
            }
            // The portable loop gives the same numbers as the vector kernel.
            let rows_q = quantize_rows(&x, rows, k, packed.padded_input);
            let mut portable = vec![0f32; rows * n];
            for row in (0..rows).step_by(MR) {
                let mr = MR.min(rows - row);
                for panel in 0..n.div_ceil(NR) {
                    let kp = packed.padded_input;
                    let tile = Tile {
                        rows: mr,
                        quads: kp / 4,
                        activations: &rows_q.bytes[row * kp..(row + mr) * kp],
                        row_stride: kp,
                        row_scales: &rows_q.scales[row..row + mr],
                        zero_points: &rows_q.zero_points[row..row + mr],
                        weights: &packed.values[panel * kp * NR..(panel + 1) * kp * NR],
                        column_sums: &packed.column_sums[panel * NR..(panel + 1) * NR],
                        column_scales: &packed.scales[panel * NR..(panel + 1) * NR],
                        bias: Some(&bias[panel * NR..(panel * NR + NR).min(n)]),
                        columns: NR.min(n - panel * NR),
                    };
                    // SAFETY: the tile's outputs lie inside `portable`.
                    unsafe { tile.run(false, portable.as_mut_ptr().add(row * n + panel * NR), n) };
                }
            }
            assert_eq!(portable, got, "{rows}x{k}x{n}");
        }
    }

    #[test]
    fn vector_packing_matches_the_portable_one() {
        let (k, n) = (101, 2 * NR);
        let w = values(k * n, 7);
        let kp = k.next_multiple_of(4);
        for first in [0, NR] {
            let source = PanelSource {
                weight: &w,
                d_input: k,
                d_output: n,
                first,
                columns: NR,
            };
            let (mut values, mut sums, mut scales) = (vec![0i8; kp * NR], [0i32; NR], [0f32; NR]);
            source.pack(&mut values, &mut sums, &mut scales);
            #[cfg(target_arch = "x86_64")]
            if has_avx512() {
                let (mut v, mut s, mut c) = (vec![0i8; kp * NR], [0i32; NR], [0f32; NR]);
                // SAFETY: checked just above.
                unsafe { source.pack_avx512(&mut v, &mut s, &mut c) };
                assert_eq!((v, s, c), (values.clone(), sums, scales));
            }
        }
    }

    #[test]
    fn quantization_is_within_half_a_step() {
        let (rows, k, n) = (9, 300, 77);
        let x = values(rows * k, 4);
        let w = values(n * k, 5);
        let packed = PackedInt8::quantize(&w, k, n);
        let mut got = vec![0f32; rows * n];
        packed.matmul(&x, rows, None, &mut got);
        // |error| <= Σ_k (|x| δw + |w| δx + δx δw) with δ = scale / 2.
        let row_scales = quantize_rows(&x, rows, k, packed.padded_input).scales;
        for r in 0..rows {
            for j in 0..n {
                let exact: f32 = (0..k).map(|p| x[r * k + p] * w[p * n + j]).sum();
                let (dx, dw) = (row_scales[r] / 2.0, packed.scales[j] / 2.0);
                let bound: f32 = (0..k)
                    .map(|p| x[r * k + p].abs() * dw + w[p * n + j].abs() * dx + dx * dw)
                    .sum();
                assert!((exact - got[r * n + j]).abs() <= bound * 1.001 + 1e-5);
            }
        }
    }

    #[test]
    fn zero_and_nan_rows() {
        let (k, n) = (8, 3);
        let w = values(n * k, 6);
        let packed = PackedInt8::quantize(&w, k, n);
        let mut x = vec![0f32; 2 * k];
        x[k + 3] = f32::NAN;
        let mut out = vec![1f32; 2 * n];
        packed.matmul(&x, 2, Some(&[0.5, -1.0, 2.0]), &mut out);
        assert_eq!(&out[..n], &[0.5, -1.0, 2.0]);
        assert!(out[n..].iter().all(|v| v.is_nan()));
    }
}
