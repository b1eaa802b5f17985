/*
 * nn_q8_kernels.c - the int8 products under conv2d_q8 and dense_q8, and
 * the requantisation of their sums.
 *
 * C[i][j] = sum over taps t, groups g of a tap, bytes b of a group of
 * rows[i][toff[t] + 4g + b] * B[((t*gpt + g)*N + j)*4 + b].  A row is a
 * pointer, so a convolution reads its input where it lies (channels last:
 * a kernel row of one output pixel is one run of bytes at toff[t] from
 * the pixel's window) and a dense layer passes its input rows, one tap.
 * The activations are bytes 0..127, B int8 in -127..127 stored by groups
 * of four inputs, [groups][N][4], so that one 32-bit lane holds the four
 * weights one output applies to four consecutive inputs: the shape
 * vpdpbusd and vpmaddubsw + vpmaddwd take.  Sums are int32.
 *
 * Four variants, one chosen at start-up for the CPU:
 *
 *   avx512-vnni  vpdpbusd on 64 bytes (AVX-512 VNNI)
 *   avx-vnni     vpdpbusd on 32 bytes (AVX-VNNI, the VEX form on AVX2 CPUs)
 *   avx2         vpmaddubsw + vpmaddwd (AVX2 without VNNI)
 *   portable     plain C
 *
 * Each computes a tile of R rows x NT vectors of outputs at once: NT
 * weight vectors loaded once per group serve R rows, each row's four
 * bytes broadcast once serve NT vectors, and the R x NT independent
 * accumulators hide vpdpbusd's latency.
 *
 * Every variant computes the exact integer sum, so all give the same bits
 * whatever the order of the additions.  That needs no overflow anywhere:
 * vpmaddubsw adds two products into a saturating int16, and 2 * 127 * 127
 * = 32258 fits, which is why activations stop at 127 (7 bits) and weights
 * at -127; an int32 sum of NN_Q8_MAX_K such products stays under 2^31.
 * The requantisation is the same integer formula in every variant.
 */
#include "nn_kernels.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define Q8_X86 1
#endif

#define Q8_MAX 127

static void rows_portable(int M, int N, int taps, const int *toff, int gpt,
                          const uint8_t *const *rows, const int8_t *B, int32_t *C, int ldc)
{
	for (int i = 0; i < M; i++) {
		int32_t *c = C + (size_t)i * ldc;

		memset(c, 0, sizeof(int32_t) * N);
		for (int t = 0; t < taps; t++)
			for (int g = 0; g < gpt; g++) {
				const uint8_t *a = rows[i] + toff[t] + 4 * g;
				const int8_t *b = B + ((size_t)t * gpt + g) * N * 4;

				for (int j = 0; j < N; j++)
					c[j] += a[0] * b[4 * j] + a[1] * b[4 * j + 1] +
					        a[2] * b[4 * j + 2] + a[3] * b[4 * j + 3];
			}
	}
}

static inline uint8_t requantise_one(int32_t sum, int32_t multiplier, int shift)
{
	int64_t p = (int64_t)sum * multiplier + ((int64_t)1 << (shift - 1));

	p >>= shift;
	return (uint8_t)(p < 0 ? 0 : p > Q8_MAX ? Q8_MAX : p);
}

static void requant_portable(int M, int N, const int32_t *C, int ldc, const int32_t *bias,
                             const int32_t *multiplier, const int32_t *shift, uint8_t *out, int ldo)
{
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++)
			out[(size_t)i * ldo + j] = requantise_one(C[(size_t)i * ldc + j] + bias[j],
			                                          multiplier[j], shift[j]);
}

#ifdef Q8_X86

#define T_AVX2 __attribute__((target("avx2")))
#define T_VNNI __attribute__((target("avx2,avxvnni")))
#define T_512  __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define INLINE inline __attribute__((always_inline))

#define LOAD256(p)     _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define STORE256(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), v)
#define LOAD512(p)     _mm512_loadu_si512((const void *)(p))
#define STORE512(p, v) _mm512_storeu_si512((void *)(p), v)

/* What the AVX-512 epilogue needs of 16 outputs to requantise them in
 * registers (requant_avx512 explains the lanes). */
struct rq512 {
	__m512i bias, m, m_odd, s_even, s_odd, r_even, r_odd;
	__mmask16 k; /* the outputs that exist */
};

/* One tile: rows rows[0..R), outputs [0, NT*LANES) of B (already offset
 * to the tile's first output).  R and NT are constants where it is
 * inlined, so acc[][] lives in registers.  The sums go to C as int32, or
 * with rq (AVX-512 only) requantised to bytes in out. */
#define TILE_FN(NAME, TARGET, VEC, LANES, MAXR, ZERO, BCAST, LOAD, STORE, DOT, RQ)                 \
	TARGET static INLINE void NAME(const int R, const int NT, int taps, const int *toff,       \
	                               int gpt, const uint8_t *const *rows, const int8_t *B,       \
	                               int N, int32_t *C, int ldc, const struct rq512 *rq,         \
	                               uint8_t *out, int ldo)                                      \
	{                                                                                          \
		VEC acc[MAXR][4];                                                                  \
		_Pragma("GCC unroll 16") for (int r = 0; r < R; r++)                               \
		    _Pragma("GCC unroll 4") for (int t = 0; t < NT; t++) acc[r][t] = ZERO;         \
		for (int tp = 0; tp < taps; tp++) {                                                \
			const uint8_t *p[MAXR];                                                    \
			const int8_t *b = B + (size_t)tp * gpt * N * 4;                            \
			_Pragma("GCC unroll 16") for (int r = 0; r < R; r++) p[r] =                \
			    rows[r] + toff[tp];                                                    \
			for (int g = 0; g < gpt; g++, b += (size_t)N * 4) {                        \
				VEC w[4];                                                          \
				_Pragma("GCC unroll 4") for (int t = 0; t < NT; t++) w[t] =        \
				    LOAD(b + t * (LANES)*4);                                       \
				_Pragma("GCC unroll 16") for (int r = 0; r < R; r++)               \
				{                                                                  \
					int32_t a4;                                                \
					memcpy(&a4, p[r] + 4 * g, 4);                              \
					const VEC x = BCAST(a4);                                   \
					_Pragma("GCC unroll 4") for (int t = 0; t < NT; t++)       \
					    acc[r][t] = DOT(acc[r][t], x, w[t]);                   \
				}                                                                  \
			}                                                                          \
		}                                                                                  \
		if (rq) {                                                                          \
			_Pragma("GCC unroll 16") for (int r = 0; r < R; r++)                       \
			    _Pragma("GCC unroll 4") for (int t = 0; t < NT; t++)                   \
			        RQ(out + (size_t)r * ldo + t * (LANES), acc[r][t], rq + t);        \
			return;                                                                    \
		}                                                                                  \
		_Pragma("GCC unroll 16") for (int r = 0; r < R; r++)                               \
		    _Pragma("GCC unroll 4") for (int t = 0; t < NT; t++)                           \
		        STORE(C + (size_t)r * ldc + t * (LANES), acc[r][t]);                       \
	}

/* All M rows for NT vectors of outputs: tiles of the most rows the
 * registers hold, the rest by 4, 2 and 1. */
#define TILE_AT(TILE, R, NT)                                                                       \
	TILE(R, NT, taps, toff, gpt, rows + i, b, N, c + (size_t)i * ldc, ldc, rq,                 \
	     o ? o + (size_t)i * ldo : NULL, ldo)
#define ROWS_NT(TILE, NT, RMAX)                                                                    \
	do {                                                                                       \
		int i = 0;                                                                         \
		for (; i + (RMAX) <= M; i += (RMAX))                                               \
			TILE_AT(TILE, RMAX, NT);                                                   \
		for (; i + 4 <= M; i += 4)                                                         \
			TILE_AT(TILE, 4, NT);                                                      \
		for (; i + 2 <= M; i += 2)                                                         \
			TILE_AT(TILE, 2, NT);                                                      \
		for (; i < M; i++)                                                                 \
			TILE_AT(TILE, 1, NT);                                                      \
	} while (0)

/* Outputs by blocks of 4 vectors, the last block 1 to 3.  With out (the
 * AVX-512 variant only), PREP readies the block's requantisation. */
#define ROWS_FN(NAME, TARGET, TILE, LANES, R1, R2, R3, R4, PREP)                                   \
	TARGET static void NAME(int M, int N, int taps, const int *toff, int gpt,                  \
	                        const uint8_t *const *rows, const int8_t *B, int32_t *C, int ldc,  \
	                        const struct nn_q8_out *q, uint8_t *out, int ldo)                  \
	{                                                                                          \
		struct rq512 prep[4];                                                              \
		for (int j0 = 0; j0 < N; j0 += 4 * (LANES)) {                                      \
			const int8_t *b = B + (size_t)j0 * 4;                                      \
			int32_t *c = C + j0;                                                       \
			const struct rq512 *rq = out ? PREP(prep, q, j0) : NULL;                   \
			uint8_t *o = out ? out + j0 : NULL;                                        \
			switch ((N - j0) / (LANES)) {                                              \
			case 1:                                                                    \
				ROWS_NT(TILE, 1, R1);                                              \
				break;                                                             \
			case 2:                                                                    \
				ROWS_NT(TILE, 2, R2);                                              \
				break;                                                             \
			case 3:                                                                    \
				ROWS_NT(TILE, 3, R3);                                              \
				break;                                                             \
			default:                                                                   \
				ROWS_NT(TILE, 4, R4);                                              \
			}                                                                          \
		}                                                                                  \
	}

T_AVX2 static INLINE __m256i dot_avx2(__m256i acc, __m256i a, __m256i b)
{
	/* u8 x s8 pairs into int16 (no saturation: see the top), pairs of
	 * int16 into int32. */
	__m256i pairs = _mm256_maddubs_epi16(a, b);

	return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

/* 16 outputs (lanes) of one row requantised, exactly requantise_one:
 * the even and odd 32-bit lanes apart, in 64-bit lanes. */
T_512 static INLINE void rq_store512(uint8_t *out, __m512i acc, const struct rq512 *q)
{
	const __m512i top = _mm512_set1_epi64(Q8_MAX), zero = _mm512_setzero_si512();
	const __m512i v = _mm512_add_epi32(acc, q->bias);
	__m512i e = _mm512_add_epi64(_mm512_mul_epi32(v, q->m), q->r_even);
	__m512i o =
	    _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(v, 32), q->m_odd), q->r_odd);

	e = _mm512_min_epi64(_mm512_max_epi64(_mm512_srav_epi64(e, q->s_even), zero), top);
	o = _mm512_min_epi64(_mm512_max_epi64(_mm512_srav_epi64(o, q->s_odd), zero), top);
	_mm512_mask_cvtepi32_storeu_epi8(out, q->k, _mm512_or_si512(e, _mm512_slli_epi64(o, 32)));
}

/* The vectors rq_store512 needs for outputs j .. j+15 (those < units). */
T_512 static INLINE void rq_prep512(struct rq512 *r, const struct nn_q8_out *q, int j)
{
	const __m512i low = _mm512_set1_epi64(0xffffffff), one = _mm512_set1_epi64(1);
	const int left = q->units - j;
	const __mmask16 k = left >= 16 ? 0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
	const __m512i s = _mm512_maskz_loadu_epi32(k, q->shift + j);

	r->k = k;
	r->bias = _mm512_maskz_loadu_epi32(k, q->bias + j);
	r->m = _mm512_maskz_loadu_epi32(k, q->multiplier + j);
	r->m_odd = _mm512_srli_epi64(r->m, 32);
	r->s_even = _mm512_and_si512(s, low);
	r->s_odd = _mm512_srli_epi64(s, 32);
	/* 1 << (shift - 1); lanes past units shift by -1: any value. */
	r->r_even = _mm512_sllv_epi64(one, _mm512_sub_epi64(r->s_even, one));
	r->r_odd = _mm512_sllv_epi64(one, _mm512_sub_epi64(r->s_odd, one));
}

T_512 static INLINE const struct rq512 *prep512(struct rq512 *r, const struct nn_q8_out *q, int j0)
{
	for (int t = 0; t < 4; t++)
		rq_prep512(r + t, q, j0 + 16 * t);
	return r;
}

/* The 256-bit variants requantise apart (rows_requant), never here. */
static INLINE const struct rq512 *prep_none(struct rq512 *r, const struct nn_q8_out *q, int j0)
{
	(void)r, (void)q, (void)j0;
	return NULL;
}
#define RQ_NONE(out, acc, rq) ((void)(out), (void)(acc), (void)(rq))

/* 32 vector registers with AVX-512, 16 with AVX2: the tiles fill them. */
TILE_FN(tile_512, T_512, __m512i, 16, 12, _mm512_setzero_si512(), _mm512_set1_epi32, LOAD512,
        STORE512, _mm512_dpbusd_epi32, rq_store512)
ROWS_FN(gemm_avx512_vnni, T_512, tile_512, 16, 12, 12, 8, 6, prep512)
TILE_FN(tile_vnni, T_VNNI, __m256i, 8, 6, _mm256_setzero_si256(), _mm256_set1_epi32, LOAD256,
        STORE256, _mm256_dpbusd_avx_epi32, RQ_NONE)
ROWS_FN(gemm_avx_vnni, T_VNNI, tile_vnni, 8, 6, 6, 3, 2, prep_none)
TILE_FN(tile_avx2, T_AVX2, __m256i, 8, 6, _mm256_setzero_si256(), _mm256_set1_epi32, LOAD256,
        STORE256, dot_avx2, RQ_NONE)
ROWS_FN(gemm_avx2, T_AVX2, tile_avx2, 8, 6, 4, 3, 2, prep_none)

T_512 static void rows_avx512_vnni(int M, int N, int taps, const int *toff, int gpt,
                                   const uint8_t *const *rows, const int8_t *B, int32_t *C, int ldc)
{
	gemm_avx512_vnni(M, N, taps, toff, gpt, rows, B, C, ldc, NULL, NULL, 0);
}

/* Requantised in the tile's registers: no int32 sums stored. */
T_512 static void rows_rq_avx512_vnni(int M, int N, int taps, const int *toff, int gpt,
                                      const uint8_t *const *rows, const int8_t *B,
                                      const struct nn_q8_out *q, uint8_t *out, int ldo,
                                      int32_t *sums)
{
	/* sums with ldc 0: a pointer never written, never NULL + offset. */
	gemm_avx512_vnni(M, N, taps, toff, gpt, rows, B, sums, 0, q, out, ldo);
}

T_VNNI static void rows_avx_vnni(int M, int N, int taps, const int *toff, int gpt,
                                 const uint8_t *const *rows, const int8_t *B, int32_t *C, int ldc)
{
	gemm_avx_vnni(M, N, taps, toff, gpt, rows, B, C, ldc, NULL, NULL, 0);
}

T_AVX2 static void rows_avx2(int M, int N, int taps, const int *toff, int gpt,
                             const uint8_t *const *rows, const int8_t *B, int32_t *C, int ldc)
{
	gemm_avx2(M, N, taps, toff, gpt, rows, B, C, ldc, NULL, NULL, 0);
}

/* The requantisation apart, with the epilogue's steps. */
T_512 static void requant_avx512(int M, int N, const int32_t *C, int ldc, const int32_t *bias,
                                 const int32_t *multiplier, const int32_t *shift, uint8_t *out,
                                 int ldo)
{
	const struct nn_q8_out q = {bias, multiplier, shift, N};

	for (int j = 0; j < N; j += 16) {
		struct rq512 r;

		rq_prep512(&r, &q, j);
		for (int i = 0; i < M; i++)
			rq_store512(out + (size_t)i * ldo + j,
			            _mm512_maskz_loadu_epi32(r.k, C + (size_t)i * ldc + j), &r);
	}
}

static bool has_avx512_vnni(void)
{
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vnni");
}

/* AVX-VNNI is CPUID leaf 7, sub-leaf 1, EAX bit 4: asked directly, since
 * clang 14's __builtin_cpu_supports does not know "avxvnni". */
static bool has_avx_vnni(void)
{
	unsigned int a, b, c, d;

	return __builtin_cpu_supports("avx2") && __get_cpuid_count(7, 1, &a, &b, &c, &d) &&
	       (a & (1u << 4));
}

static bool has_avx2(void)
{
	return __builtin_cpu_supports("avx2");
}
#endif /* Q8_X86 */

static bool always(void)
{
	return true;
}

typedef void rows_fn(int M, int N, int taps, const int *toff, int gpt, const uint8_t *const *rows,
                     const int8_t *B, int32_t *C, int ldc);
typedef void requant_fn(int M, int N, const int32_t *C, int ldc, const int32_t *bias,
                        const int32_t *multiplier, const int32_t *shift, uint8_t *out, int ldo);
typedef void rows_rq_fn(int M, int N, int taps, const int *toff, int gpt,
                        const uint8_t *const *rows, const int8_t *B, const struct nn_q8_out *q,
                        uint8_t *out, int ldo, int32_t *sums);

struct variant {
	const char *name;
	rows_fn *rows;
	requant_fn *requant;
	rows_rq_fn *rows_rq; /* NULL: rows, then requant */
	bool (*runs)(void);
};

/* Best first: start-up takes the first one the CPU runs. */
static const struct variant variants[] = {
#ifdef Q8_X86
    {"avx512-vnni", rows_avx512_vnni, requant_avx512, rows_rq_avx512_vnni, has_avx512_vnni},
    {"avx-vnni", rows_avx_vnni, requant_portable, NULL, has_avx_vnni},
    {"avx2", rows_avx2, requant_portable, NULL, has_avx2},
#endif
    {"portable", rows_portable, requant_portable, NULL, always},
};
#define N_VARIANTS (sizeof(variants) / sizeof(variants[0]))

const char *const nn_q8_kernel_names[] = {
#ifdef Q8_X86
    "avx512-vnni", "avx-vnni", "avx2",
#endif
    "portable", NULL};

static const struct variant *chosen = &variants[N_VARIANTS - 1];

/* Before main, so no thread ever sees the choice change. */
__attribute__((constructor)) static void choose_q8_kernel(void)
{
#ifdef Q8_X86
	__builtin_cpu_init();
#endif
	for (size_t i = 0; i < N_VARIANTS; i++)
		if (variants[i].runs()) {
			chosen = &variants[i];
			return;
		}
}

int nn_q8_kernel_use(const char *name)
{
	for (size_t i = 0; i < N_VARIANTS; i++)
		if (strcmp(variants[i].name, name) == 0) {
			if (!variants[i].runs())
				return -1;
			chosen = &variants[i];
			return 0;
		}
	return -1;
}

const char *nn_q8_kernel(void)
{
	return chosen->name;
}

void nn_q8_gemm_rows(int M, int N, int taps, const int *toff, int gpt, const uint8_t *const *rows,
                     const int8_t *B, int32_t *C, int ldc)
{
	chosen->rows(M, N, taps, toff, gpt, rows, B, C, ldc);
}

void nn_q8_gemm(int M, int N, int Kp, const uint8_t *A, const int8_t *B, int32_t *C, int ldc)
{
	enum { CHUNK = 64 };
	const uint8_t *rows[CHUNK];
	const int toff = 0;

	for (int i0 = 0; i0 < M; i0 += CHUNK) {
		const int m = M - i0 < CHUNK ? M - i0 : CHUNK;

		for (int i = 0; i < m; i++)
			rows[i] = A + (size_t)(i0 + i) * Kp;
		chosen->rows(m, N, 1, &toff, Kp / 4, rows, B, C + (size_t)i0 * ldc, ldc);
	}
}

void nn_q8_requantise(int M, int N, const int32_t *C, int ldc, const int32_t *bias,
                      const int32_t *multiplier, const int32_t *shift, uint8_t *out, int ldo)
{
	chosen->requant(M, N, C, ldc, bias, multiplier, shift, out, ldo);
}

void nn_q8_gemm_rows_requantise(int M, int N, int taps, const int *toff, int gpt,
                                const uint8_t *const *rows, const int8_t *B,
                                const struct nn_q8_out *q, uint8_t *out, int ldo, int32_t *sums)
{
	if (chosen->rows_rq) {
		chosen->rows_rq(M, N, taps, toff, gpt, rows, B, q, out, ldo, sums);
		return;
	}
	chosen->rows(M, N, taps, toff, gpt, rows, B, sums, N);
	chosen->requant(M, q->units, sums, N, q->bias, q->multiplier, q->shift, out, ldo);
}
