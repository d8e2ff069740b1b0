#ifndef CERI_SUPPORT_H
#define CERI_SUPPORT_H
/* The public header's types (eri_image, eri_model_info, …) for the Swift façade. */
#include "../../../include/eri.h"
#include <stddef.h>
#include <stdint.h>

/* The thread-local message behind eri_last_error(): Swift has no thread-local
   storage class, C11 does. Messages longer than the buffer are cut. */
void liberi_set_last_error(const char *message);
const char *liberi_last_error(void);
/* The thread-local text behind eri_prediction.warning_text. */
void liberi_set_warning_text(const char *message);
const char *liberi_warning_text(void);

/* The face detector's direct convolution (direct_conv.c): valid, stride 1,
   k × k (k = 1, 2 or 3), y = PReLU(W ∗ x + bias) (slopes NULL: no PReLU), on
   "wide" CNHW maps: x (inputs, images) planes plane_stride floats apart, rows
   row_stride apart, the first h rows × w columns valid, followed by
   LIBERI_DIRECT_CONV_SLACK readable floats; y (outputs, images) planes of
   liberi_direct_conv_plane(h, w, row_stride, k) floats, rows row_stride apart,
   the first h − k + 1 rows × w − k + 1 columns valid. The work is split into
   liberi_direct_conv_units(…) units with disjoint outputs; a call computes
   units [unit_begin, unit_end). Weights are packed once by
   liberi_direct_conv_pack into liberi_direct_conv_packed_size floats.
   simd: 1 for the AVX2 + FMA path (only where liberi_direct_conv_simd()
   says so), 0 for portable C. */
#define LIBERI_DIRECT_CONV_SLACK 16
size_t liberi_direct_conv_packed_size(int inputs, int outputs, int k);
void liberi_direct_conv_pack(const float *weight, int inputs, int outputs, int k, float *packed);
/* 1 where the CPU has AVX2 and FMA and ERI_PORTABLE_KERNELS is unset (or 0). */
int liberi_direct_conv_simd(void);
int liberi_direct_conv_plane(int h, int w, int row_stride, int k);
int liberi_direct_conv_units(int images, int h, int w, int row_stride, int k);
void liberi_direct_conv(const float *x, int inputs, int images, int h, int w, int row_stride, int plane_stride, int k,
                        const float *packed, int outputs, const float *bias, const float *slopes, int unit_begin,
                        int unit_end, int simd, float *y);
/* MaxPool2d(k, s, ceil_mode=True), no padding, on planes [plane_begin, plane_end)
   of h × w, rows row_stride and planes plane_stride apart (a wide map), into
   dense planes of oh × ow (ERICore's ceilPoolSide); the face detector's pooling. simd: the
   loops compiled for AVX2 (liberi_direct_conv_simd()). */
void liberi_max_pool_ceil(const float *x, int h, int w, int row_stride, int plane_stride, int k, int s, int oh, int ow,
                          int plane_begin, int plane_end, int simd, float *y);
/* Area resampling (PyTorch's interpolate "area", area.c) through an integral image
   (summed-area table) of liberi_integral_size(h, w) entries, (h + 1) × (w + 1) × RGB:
   32-bit unsigned integers from packed 8-bit pixels (bpp bytes each, rows `stride`
   bytes apart, channel bytes r, g, b), doubles from three planes of floats (3 × h × w).
   liberi_area_from_integral(_f64) resamples the rectangle of ch rows × cw columns at
   (y0, x0) of the table of an image w wide to oh × ow, output rows [row_begin, row_end),
   into planes R, G, B plane_stride floats apart, optionally normalised as MTCNN's
   input ((v − 127.5) · 0.0078125). */
size_t liberi_integral_size(int h, int w);
void liberi_integral_from_packed(const unsigned char *data, int w, int h, int stride, int bpp, int r, int g, int b,
                                 uint32_t *out);
void liberi_integral_from_planes(const float *planes, int w, int h, double *out);
void liberi_area_from_integral(const uint32_t *table, int w, int y0, int x0, int ch, int cw, int oh, int ow, int row_begin,
                               int row_end, int normalise, float *out, size_t plane_stride);
void liberi_area_from_integral_f64(const double *table, int w, int y0, int x0, int ch, int cw, int oh, int ow, int row_begin,
                                   int row_end, int normalise, float *out, size_t plane_stride);
/* dst[c · dst_stride + r] = src[r · src_stride + c] for r < rows, c < cols (transpose.c). */
void liberi_transpose(const float *src, size_t src_stride, float *dst, size_t dst_stride, int rows, int cols);
/* The row half (Bᵀ d) B of the Winograd input transforms of ERICore (winograd.c):
   e holds Bᵀ d of one zero-padded plane, row i of it `span` floats after row i − 1,
   tile (ty, tx)'s values of that row at e + i·span + m·ty·pw + m·tx (m = 4 or 2);
   V_ξ of tile t = ty·tw + tx goes to v[ξ · stride + t]. */
/* The column halves Bᵀ d of the input transforms for a plane's th tile rows (winograd.c). */
void liberi_winograd4_input_columns(const float *padded, ptrdiff_t pw, ptrdiff_t span, int th, float *e);
void liberi_winograd2_input_columns(const float *padded, ptrdiff_t pw, ptrdiff_t span, int th, float *e);
void liberi_winograd4_input_rows(const float *e, ptrdiff_t span, ptrdiff_t pw, int th, int tw, float *v, ptrdiff_t stride);
void liberi_winograd2_input_rows(const float *e, ptrdiff_t span, ptrdiff_t pw, int th, int tw, float *v, ptrdiff_t stride);
/* The output transforms Aᵀ M A of one plane's th × tw tiles (winograd.c): M_ξ of
   tile t = ty·tw + tx at m[ξ · stride + t]; tile (ty, tx)'s output row r goes to
   out + (m·ty + r) · (m·tw) + m·tx, m = 4 or 2 (out: m·th lines of m·tw floats). */
void liberi_winograd4_output_plane(const float *m, ptrdiff_t stride, int th, int tw, float *out);
void liberi_winograd2_output_plane(const float *m, ptrdiff_t stride, int th, int tw, float *out);
/* The same transforms for whole channels of small maps (winograd.c), m = 2 or 4: V_ξ of channel c's
   tiles (every image's, image-major) at v + ξ·slot + c·tiles for the channels [first, end) of CNHW x;
   and y (CNHW) = relu?(Aᵀ M A + bias (+ residual)) cropped to h × w for the output channels
   [first, end), M_ξ at products + ξ·slot + o·tiles. The same floats as the per-plane functions. */
void liberi_winograd_input_channels(int m, const float *x, int first, int end, int images, int h, int w, float *v,
                                    ptrdiff_t slot);
void liberi_winograd_output_channels(int m, const float *products, ptrdiff_t slot, int first, int end, int images, int h,
                                     int w, const float *bias, const float *residual, int relu, float *y);
/* im2col of input planes [first, end) (CNHW, plane p = channel · images + image) through a
   table of tap t's output j's offset t·plane + j in the plane zero-padded by pad (rows of
   w + 2·pad); `padded` is (h + 2·pad) × (w + 2·pad) floats with zero borders, the plane's
   scratch (im2col.c). Tap t's outputs of plane (c, n) go to
   columns + (c · taps + t) · row_length + n · plane. */
void liberi_im2col_planes_table(const float *x, int first, int end, int images, int h, int w, int pad,
                                const int32_t *table, int taps, int plane, float *padded, float *columns,
                                ptrdiff_t row_length);
/* MaxPool2d(3, stride 2, padding 1), −∞ padding, over planes [first, end) of h × w (contiguous)
   into planes of ((h − 1) / 2 + 1) × ((w − 1) / 2 + 1); `rows` is h × ((w − 1) / 2 + 1) floats of
   scratch (maxpool.c). */
void liberi_maxpool3x3s2(const float *x, int first, int end, int h, int w, float *rows, float *y);
/* stem_conv.c: the backbone's stem, conv 3×3 stride 2 padding 1 of CNHW x (channels × images ×
   h × w) with weight (outputs × channels × 3 × 3) and bias, ReLU when relu, into CNHW y
   (outputs × images × oh × ow, oh = (h − 1) / 2 + 1), for the units [first, end) of
   (image, output row); scratch: liberi_stem_conv_scratch_floats(channels, w) floats per
   caller. simd: 1 for AVX2 + FMA (only where liberi_avx2_fma() says so), 0 for its scalar twin. */
size_t liberi_stem_conv_scratch_floats(int channels, int width);
void liberi_stem_conv(const float *x, int channels, int images, int h, int w, const float *weight, const float *bias,
                      int outputs, int relu, int first, int end, float *scratch, float *y, int simd);
/* packed_conv.c: a convolution as weights packed once (liberi_conv_pack_weights: m × k into
   liberi_conv_packed_weights_size(m, k) floats, blocks of 6 rows) times an im2col matrix
   written as panels of 16 columns (im2col.c's liberi_im2col_panels: the planes [first, end) of CNHW x,
   as liberi_im2col_planes_table gathers them, into liberi_conv_panels_size(n, k) floats for
   k = channels · taps rows and n = images · plane columns); liberi_conv_packed stores
   y = (relu?)(A · B + bias (+ residual)) (m × n, as residual) for the 6-row blocks
   [block_first, block_end) × panels [panel_first, panel_end). simd: 1 for AVX2 + FMA (only
   where liberi_avx2_fma() says so), 0 for its scalar twin (the same floats). */
size_t liberi_conv_packed_weights_size(int m, int k);
void liberi_conv_pack_weights(const float *w, int m, int k, float *packed);
size_t liberi_conv_panels_size(int n, int k);
void liberi_im2col_panels(const float *x, int first, int end, int images, int h, int w, int pad, const int32_t *table,
                          int taps, int plane, float *padded, float *panels, int k);
void liberi_conv_packed(int m, int n, int k, const float *packed, const float *panels, const float *bias,
                        const float *residual, int relu, float *y, int block_first, int block_end, int panel_first,
                        int panel_end, int simd);
/* activations.c: each of `rows` rows of n floats replaced by its softmax, in place (exp by a
   polynomial with SSE2: e^x under FLT_MIN gives 0; libm's expf elsewhere); GELU in place
   (erf by A&S 7.1.26 with SSE2, libm's erff elsewhere). */
void liberi_softmax_rows(float *x, size_t rows, size_t n);
void liberi_gelu(float *x, size_t n);
/* skinny_gemm.c: C = alpha · A · B + beta · C, row-major, no transposes, A (m × k) read
   as stored (not packed), for few columns n; C is not read when beta = 0. simd: 1 for the
   AVX2 + FMA kernel (only where liberi_avx2_fma() says so), 0 for a plain C loop
   (which callers should leave to a BLAS). */
void liberi_skinny_gemm(int m, int n, int k, float alpha, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                        float beta, float *c, ptrdiff_t ldc, int simd);
/* mfcc.c: MFCC frames eight at a time, one frame per vector lane, for a power-of-two n_fft
   (16 … 2^20; NULL otherwise, or for bands outside the n_fft/2 + 1 bins). The plan copies
   the tables ERIFeatures' MFCCExtractor builds: the periodic Hann window (win_length points,
   at window_offset in the frame), the banded mel filters (band i: band_count[i] weights
   from bin band_first[i], the weights of all bands in order, divided by 4, the packed
   FFT's exact factor), the DCT n_mfcc × n_mels (row 0 unused), its column sums and s₀.
   liberi_mfcc_frames writes frames [first_frame, first_frame + frame_count) of a signal
   of signal_length samples (zero outside) given its samples [signal_start, …) that
   those frames read, as frame_count rows of n_mfcc, with liberi_mfcc_scratch_floats
   floats of scratch; simd: 1 for AVX2 + FMA (liberi_avx2_fma()), 0 portable. */
typedef struct liberi_mfcc_plan liberi_mfcc_plan;
liberi_mfcc_plan *liberi_mfcc_plan_create(int n_fft, int hop, int win_length, int window_offset, const float *window,
                                          int n_mels, const int *band_first, const int *band_count,
                                          const float *band_weights, int n_mfcc, const float *dct,
                                          const float *dct_column_sums, double dct_scale0);
void liberi_mfcc_plan_free(liberi_mfcc_plan *plan);
size_t liberi_mfcc_scratch_floats(const liberi_mfcc_plan *plan);
void liberi_mfcc_frames(const liberi_mfcc_plan *plan, const float *signal, ptrdiff_t signal_start, ptrdiff_t signal_length,
                        long long first_frame, long long frame_count, float *out, float *scratch, int simd);
/* skinny_gemm.c: weights packed once for the products of linear layers, C = A · Wᵀ + bias
   (a row vector added to every row; NULL: none) with W n × k (PyTorch's layout):
   liberi_pack_weights writes liberi_packed_weights_size(n, k) floats (panels of 16 output
   columns, k rows of 16 each, zero past n), which the skinny kernel's blocks then read as a
   compact B: neither operand is packed per call, as OpenBLAS does. AVX2 + FMA; callers use
   it only where liberi_avx2_fma() says so (elsewhere a plain loop). */
size_t liberi_packed_weights_size(int n, int k);
void liberi_pack_weights(const float *w, int n, int k, float *packed);
void liberi_packed_gemm(int m, int n, int k, const float *a, ptrdiff_t lda, const float *packed, const float *bias,
                        float *c, ptrdiff_t ldc);
/* cpu.c: 1 where ERI_PORTABLE_KERNELS's value asks for the portable kernels (set, not
   empty, not "0"); 1 where the AVX2 + FMA kernels run (the CPU has both and the
   environment does not ask for the portable ones). */
int liberi_portable_requested(const char *value);
int liberi_avx2_fma(void);
/* placement.c: the CPU this thread runs on (-1 where unknown); a pool worker woken on its
   caller's CPU `cpu` moves to another CPU it may use (1 if it moved). Linux only; 0 elsewhere. */
int liberi_current_cpu(void);
int liberi_step_off_cpu(int cpu);
#endif
