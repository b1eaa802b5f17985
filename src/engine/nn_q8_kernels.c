/*
 * nn_q8_kernels.c - the int8 matrix product under conv2d_q8 and dense_q8.
 *
 * C[i][j] = sum over k of A[i][k] * B[k][j]: A is bytes 0..127 (the
 * activations), B int8 in -127..127 (the weights) stored by groups of four
 * inputs, [Kp/4][N][4], so that one 32-bit lane holds the four weights one
 * output applies to four consecutive inputs: the shape vpdpbusd and
 * vpmaddubsw + vpmaddwd take.  Sums are int32.  Four variants, one chosen at start-up for the CPU:
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
#include <cpuid.h>
#include <immintrin.h>
#define Q8_X86 1
#endif

static void gemm_portable(int M, int N, int Kp, const uint8_t *A, const int8_t *B, int32_t *C,
                          int ldc)
{
	for (int i = 0; i < M; i++) {
		int32_t *c = C + (size_t)i * ldc;

		memset(c, 0, sizeof(int32_t) * N);
		for (int g = 0; g < Kp / 4; g++) {
			const uint8_t *a = A + (size_t)i * Kp + 4 * g;
			const int8_t *b = B + (size_t)g * N * 4;

			for (int j = 0; j < N; j++)
				c[j] += a[0] * b[4 * j] + a[1] * b[4 * j + 1] +
				        a[2] * b[4 * j + 2] + a[3] * b[4 * j + 3];
		}
	}
}

#ifdef Q8_X86

#define T_AVX2 __attribute__((target("avx2")))
#define T_VNNI __attribute__((target("avx2,avxvnni")))
#define T_512  __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* Row i of C, NT vectors of LANES outputs at a time: for each group of 4
 * inputs, their 4 bytes broadcast to every lane, times the group's 4
 * weights of each output (B's layout), added into the output's lane.  No
 * horizontal sums; the NT accumulators stay in registers (constant NT,
 * the tail of N masked by the `t < nt` test). */
#define GEMM_BODY(VEC, LANES, NT, BCAST, LOAD, STORE, ZERO, DOT)                                   \
	for (int i = 0; i < M; i++) {                                                              \
		const uint8_t *a = A + (size_t)i * Kp;                                             \
		int32_t *c = C + (size_t)i * ldc;                                                  \
		for (int j0 = 0; j0 < N; j0 += (LANES) * (NT)) {                                   \
			const int nt = (N - j0) / (LANES);                                         \
			VEC acc[NT];                                                               \
			_Pragma("GCC unroll 8") for (int t = 0; t < (NT); t++) acc[t] = ZERO;      \
			for (int g = 0; g < Kp / 4; g++) {                                         \
				int32_t a4;                                                        \
				memcpy(&a4, a + 4 * g, 4);                                         \
				const VEC x = BCAST(a4);                                           \
				const int8_t *b = B + ((size_t)g * N + j0) * 4;                    \
				_Pragma("GCC unroll 8") for (int t = 0; t < (NT); t++) if (t < nt) \
				    acc[t] = DOT(acc[t], x, LOAD(b + t * (LANES)*4));              \
			}                                                                          \
			_Pragma("GCC unroll 8") for (int t = 0; t < (NT); t++) if (t < nt)         \
			    STORE(c + j0 + t * (LANES), acc[t]);                                   \
		}                                                                                  \
	}

#define LOAD256(p)     _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define STORE256(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), v)
#define LOAD512(p)     _mm512_loadu_si512((const void *)(p))
#define STORE512(p, v) _mm512_storeu_si512((void *)(p), v)

T_AVX2 static inline __m256i dot_avx2(__m256i acc, __m256i a, __m256i b)
{
	/* u8 x s8 pairs into int16 (no saturation: see the top), pairs of
	 * int16 into int32. */
	__m256i pairs = _mm256_maddubs_epi16(a, b);

	return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

T_AVX2 static void gemm_avx2(int M, int N, int Kp, const uint8_t *A, const int8_t *B, int32_t *C,
                             int ldc){GEMM_BODY(__m256i, 8, 8, _mm256_set1_epi32, LOAD256, STORE256,
                                                _mm256_setzero_si256(), dot_avx2)}

T_VNNI static void gemm_avx_vnni(int M, int N, int Kp, const uint8_t *A, const int8_t *B,
                                 int32_t *C, int ldc){
    GEMM_BODY(__m256i, 8, 8, _mm256_set1_epi32, LOAD256, STORE256, _mm256_setzero_si256(),
              _mm256_dpbusd_avx_epi32)}

T_512 static void gemm_avx512_vnni(int M, int N, int Kp, const uint8_t *A, const int8_t *B,
                                   int32_t *C, int ldc)
{
	GEMM_BODY(__m512i, 16, 4, _mm512_set1_epi32, LOAD512, STORE512, _mm512_setzero_si512(),
	          _mm512_dpbusd_epi32)
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
