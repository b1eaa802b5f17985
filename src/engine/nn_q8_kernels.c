/*
 * nn_q8_kernels.c - the int8 matrix product under conv2d_q8 and dense_q8.
 *
 * C[i][j] = sum over k of A[i][k] * B[j][k]: A is bytes 0..127 (the
 * activations), B int8 in -127..127 (the weights, one row per output), the
 * sums int32.  Four variants, one chosen at start-up for the CPU:
 *
 *   avx512-vnni  vpdpbusd on 64 bytes (AVX-512 VNNI)
 *   avx-vnni     vpdpbusd on 32 bytes (AVX-VNNI, the VEX form on AVX2 CPUs)
 *   avx2         vpmaddubsw + vpmaddwd (AVX2 without VNNI)
 *   portable     plain C
 *
 * Every variant computes the exact integer sum, so all give the same bits
 * whatever the order of the additions.  That needs no overflow anywhere:
 * vpmaddubsw adds two products into a saturating int16, and 2 * 127 * 127
 * = 32258 fits, which is why activations stop at 127 (7 bits) and weights
 * at -127; an int32 sum of NN_Q8_MAX_K such products stays under 2^31.
 */
#include "nn_kernels.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define Q8_X86 1
#endif

static void gemm_portable(int M, int N, int Kp, const uint8_t *A, const int8_t *B, int32_t *C,
                          int ldc)
{
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++) {
			const uint8_t *a = A + (size_t)i * Kp;
			const int8_t *b = B + (size_t)j * Kp;
			int32_t s = 0;

			for (int k = 0; k < Kp; k++)
				s += (int32_t)a[k] * b[k];
			C[(size_t)i * ldc + j] = s;
		}
}

#ifdef Q8_X86

#define T_AVX2 __attribute__((target("avx2")))
#define T_VNNI __attribute__((target("avx2,avxvnni")))
#define T_512  __attribute__((target("avx512f,avx512bw,avx512vnni")))

T_AVX2 static inline int32_t hsum256(__m256i v)
{
	__m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));

	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
	return _mm_cvtsi128_si32(s);
}

/* One row of A against four rows of B at a time (the row of A is loaded
 * once for four products), then the rest of B one row at a time.  STEP is
 * the bytes of one multiply-accumulate; DOT(acc, a, b) adds the products of
 * 4-byte groups into acc's 32-bit lanes. */
#define GEMM_BODY(VEC, LOAD, ZERO, DOT, HSUM, STEP)                                                \
	for (int i = 0; i < M; i++) {                                                              \
		const uint8_t *a = A + (size_t)i * Kp;                                             \
		int32_t *c = C + (size_t)i * ldc;                                                  \
		int j = 0;                                                                         \
		for (; j + 4 <= N; j += 4) {                                                       \
			const int8_t *b = B + (size_t)j * Kp;                                      \
			VEC s0 = ZERO, s1 = ZERO, s2 = ZERO, s3 = ZERO;                            \
			for (int k = 0; k < Kp; k += STEP) {                                       \
				VEC x = LOAD(a + k);                                               \
				s0 = DOT(s0, x, LOAD(b + k));                                      \
				s1 = DOT(s1, x, LOAD(b + Kp + k));                                 \
				s2 = DOT(s2, x, LOAD(b + 2 * (size_t)Kp + k));                     \
				s3 = DOT(s3, x, LOAD(b + 3 * (size_t)Kp + k));                     \
			}                                                                          \
			c[j] = HSUM(s0), c[j + 1] = HSUM(s1), c[j + 2] = HSUM(s2),                 \
			c[j + 3] = HSUM(s3);                                                       \
		}                                                                                  \
		for (; j < N; j++) {                                                               \
			const int8_t *b = B + (size_t)j * Kp;                                      \
			VEC s0 = ZERO;                                                             \
			for (int k = 0; k < Kp; k += STEP)                                         \
				s0 = DOT(s0, LOAD(a + k), LOAD(b + k));                            \
			c[j] = HSUM(s0);                                                           \
		}                                                                                  \
	}

#define LOAD256(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define LOAD512(p) _mm512_loadu_si512((const void *)(p))

T_AVX2 static inline __m256i dot_avx2(__m256i acc, __m256i a, __m256i b)
{
	/* u8 x s8 pairs into int16 (no saturation: see the top), pairs of
	 * int16 into int32. */
	__m256i pairs = _mm256_maddubs_epi16(a, b);

	return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

T_AVX2 static void gemm_avx2(int M, int N, int Kp, const uint8_t *A, const int8_t *B, int32_t *C,
                             int ldc){
    GEMM_BODY(__m256i, LOAD256, _mm256_setzero_si256(), dot_avx2, hsum256, 32)}

T_VNNI static void gemm_avx_vnni(int M, int N, int Kp, const uint8_t *A, const int8_t *B,
                                 int32_t *C, int ldc){
    GEMM_BODY(__m256i, LOAD256, _mm256_setzero_si256(), _mm256_dpbusd_avx_epi32, hsum256, 32)}

T_512 static inline int32_t hsum512(__m512i v)
{
	return _mm512_reduce_add_epi32(v);
}

T_512 static void gemm_avx512_vnni(int M, int N, int Kp, const uint8_t *A, const int8_t *B,
                                   int32_t *C, int ldc)
{
	GEMM_BODY(__m512i, LOAD512, _mm512_setzero_si512(), _mm512_dpbusd_epi32, hsum512, 64)
}

static bool has_avx512_vnni(void)
{
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vnni");
}

static bool has_avx_vnni(void)
{
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avxvnni");
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

typedef void gemm_fn(int M, int N, int Kp, const uint8_t *A, const int8_t *B, int32_t *C, int ldc);

/* Best first: start-up takes the first one the CPU runs. */
static const struct {
	const char *name;
	gemm_fn *fn;
	bool (*runs)(void);
} variants[] = {
#ifdef Q8_X86
    {"avx512-vnni", gemm_avx512_vnni, has_avx512_vnni},
    {"avx-vnni", gemm_avx_vnni, has_avx_vnni},
    {"avx2", gemm_avx2, has_avx2},
#endif
    {"portable", gemm_portable, always},
};
#define N_VARIANTS (sizeof(variants) / sizeof(variants[0]))

const char *const nn_q8_kernel_names[] = {
#ifdef Q8_X86
    "avx512-vnni", "avx-vnni", "avx2",
#endif
    "portable", NULL};

static gemm_fn *chosen = gemm_portable;
static const char *chosen_name = "portable";

/* Before main, so no thread ever sees the choice change. */
__attribute__((constructor)) static void choose_q8_kernel(void)
{
#ifdef Q8_X86
	__builtin_cpu_init();
#endif
	for (size_t i = 0; i < N_VARIANTS; i++)
		if (variants[i].runs()) {
			chosen = variants[i].fn;
			chosen_name = variants[i].name;
			return;
		}
}

int nn_q8_kernel_use(const char *name)
{
	for (size_t i = 0; i < N_VARIANTS; i++)
		if (strcmp(variants[i].name, name) == 0) {
			if (!variants[i].runs())
				return -1;
			chosen = variants[i].fn;
			chosen_name = variants[i].name;
			return 0;
		}
	return -1;
}

const char *nn_q8_kernel(void)
{
	return chosen_name;
}

void nn_q8_gemm(int M, int N, int Kp, const uint8_t *A, const int8_t *B, int32_t *C, int ldc)
{
	chosen(M, N, Kp, A, B, C, ldc);
}
