/* wire_crc.c: the crc32 of wire chunks (zlib's polynomial, same values as
 * zlib's crc32()). On x86-64 CPUs with PCLMULQDQ the bulk of a buffer is
 * folded 64 bytes at a time with carry-less multiplies (the method of
 * Gopal et al., "Fast CRC Computation for Generic Polynomials Using
 * PCLMULQDQ", Intel 2009), several times faster than a table; the tail and
 * other CPUs use zlib. tests/unit/wire_test.c checks it against zlib. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <zlib.h>

#include "wire.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define WIRE_CRC_SIMD 1

/* Folding constants for the bit-reflected polynomial 0xEDB88320:
 * x^(4*128+32) mod P and x^(4*128-32) mod P (fold by four blocks), the same
 * for one block, x^64 mod P, and P' / mu for the final Barrett reduction. */
#define K_FOLD4_LO 0x154442bd4ULL
#define K_FOLD4_HI 0x1c6e41596ULL
#define K_FOLD1_LO 0x1751997d0ULL
#define K_FOLD1_HI 0x0ccaa009eULL
#define K_64 0x163cd6124ULL
#define K_POLY 0x1db710641ULL
#define K_MU 0x1f7011641ULL

__attribute__((target("pclmul,sse4.1"))) static inline __m128i crc_fold(__m128i acc, __m128i k,
                                                                        __m128i next)
{
    __m128i lo = _mm_clmulepi64_si128(acc, k, 0x00);
    __m128i hi = _mm_clmulepi64_si128(acc, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

/* 128 bits -> the 32-bit crc (folding to 64 bits, then Barrett). */
__attribute__((target("pclmul,sse4.1"))) static uint32_t crc_reduce(__m128i x)
{
    const __m128i mask = _mm_setr_epi32(-1, 0, -1, 0);
    __m128i k = _mm_set_epi64x((long long)K_FOLD1_HI, (long long)K_FOLD1_LO);
    __m128i t = _mm_clmulepi64_si128(x, k, 0x10);
    x = _mm_xor_si128(_mm_srli_si128(x, 8), t);
    k = _mm_set_epi64x(0, (long long)K_64);
    t = _mm_srli_si128(x, 4);
    x = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x, mask), k, 0x00), t);
    k = _mm_set_epi64x((long long)K_MU, (long long)K_POLY);
    t = _mm_clmulepi64_si128(_mm_and_si128(x, mask), k, 0x10);
    t = _mm_clmulepi64_si128(_mm_and_si128(t, mask), k, 0x00);
    return (uint32_t)_mm_extract_epi32(_mm_xor_si128(x, t), 1);
}

/* crc over n bytes (n >= 64, a multiple of 16) continuing from the
 * pre-inverted state c; returns the pre-inverted state. */
__attribute__((target("pclmul,sse4.1"))) static uint32_t crc_simd(uint32_t c, const uint8_t *p,
                                                                  size_t n)
{
    __m128i x0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)c));
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    __m128i k = _mm_set_epi64x((long long)K_FOLD4_HI, (long long)K_FOLD4_LO);
    for (p += 64, n -= 64; n >= 64; p += 64, n -= 64) {
        x0 = crc_fold(x0, k, _mm_loadu_si128((const __m128i *)p));
        x1 = crc_fold(x1, k, _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = crc_fold(x2, k, _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = crc_fold(x3, k, _mm_loadu_si128((const __m128i *)(p + 48)));
    }
    k = _mm_set_epi64x((long long)K_FOLD1_HI, (long long)K_FOLD1_LO);
    x0 = crc_fold(crc_fold(crc_fold(x0, k, x1), k, x2), k, x3);
    for (; n >= 16; p += 16, n -= 16)
        x0 = crc_fold(x0, k, _mm_loadu_si128((const __m128i *)p));
    return crc_reduce(x0);
}

/* The same folding 256 bytes at a time in four 512-bit registers
 * (VPCLMULQDQ, 4 multiplies per instruction): x^(2048+-32) mod P fold a
 * register over the next four, then the 512- and 128-bit constants above
 * reduce to one 128-bit value. n >= 256, a multiple of 16. */
#define K_FOLD16_LO 0x11542778aULL
#define K_FOLD16_HI 0x1322d1430ULL

__attribute__((target("avx512f,vpclmulqdq"))) static inline __m512i
crc_fold512(__m512i acc, __m512i k, __m512i next)
{
    __m512i lo = _mm512_clmulepi64_epi128(acc, k, 0x00);
    __m512i hi = _mm512_clmulepi64_epi128(acc, k, 0x11);
    return _mm512_ternarylogic_epi64(lo, hi, next, 0x96); /* lo ^ hi ^ next */
}

/* The loads of crc_avx512, optionally ORing into *bad a bit for every
 * 4-byte lane whose f32 exponent is all ones (NaN or Inf). */
__attribute__((target("avx512f"))) static inline __m512i crc_load512(const uint8_t *p, int check,
                                                                     __mmask16 *bad)
{
    __m512i v = _mm512_loadu_si512(p);
    if (check) {
        const __m512i e = _mm512_set1_epi32(0x7f800000);
        *bad |= _mm512_cmpeq_epi32_mask(_mm512_and_si512(v, e), e);
    }
    return v;
}

/* n >= 256, a multiple of 16; with check, n a multiple of 256 (every byte
 * then goes through crc_load512). */
__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.1"), always_inline)) static inline uint32_t
crc_avx512_body(uint32_t c, const uint8_t *p, size_t n, int check, __mmask16 *bad)
{
    __m512i x0 = _mm512_xor_si512(crc_load512(p, check, bad),
                                  _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)c)));
    __m512i x1 = crc_load512(p + 64, check, bad), x2 = crc_load512(p + 128, check, bad);
    __m512i x3 = crc_load512(p + 192, check, bad);
    __m512i k =
        _mm512_broadcast_i32x4(_mm_set_epi64x((long long)K_FOLD16_HI, (long long)K_FOLD16_LO));
    for (p += 256, n -= 256; n >= 256; p += 256, n -= 256) {
        x0 = crc_fold512(x0, k, crc_load512(p, check, bad));
        x1 = crc_fold512(x1, k, crc_load512(p + 64, check, bad));
        x2 = crc_fold512(x2, k, crc_load512(p + 128, check, bad));
        x3 = crc_fold512(x3, k, crc_load512(p + 192, check, bad));
    }
    k = _mm512_broadcast_i32x4(_mm_set_epi64x((long long)K_FOLD4_HI, (long long)K_FOLD4_LO));
    x0 = crc_fold512(crc_fold512(crc_fold512(x0, k, x1), k, x2), k, x3);
    for (; n >= 64; p += 64, n -= 64)
        x0 = crc_fold512(x0, k, _mm512_loadu_si512(p));
    __m128i k1 = _mm_set_epi64x((long long)K_FOLD1_HI, (long long)K_FOLD1_LO);
    __m128i y = crc_fold(_mm512_extracti32x4_epi32(x0, 0), k1, _mm512_extracti32x4_epi32(x0, 1));
    y = crc_fold(crc_fold(y, k1, _mm512_extracti32x4_epi32(x0, 2)), k1,
                 _mm512_extracti32x4_epi32(x0, 3));
    for (; n >= 16; p += 16, n -= 16)
        y = crc_fold(y, k1, _mm_loadu_si128((const __m128i *)p));
    return crc_reduce(y);
}

__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.1"))) static uint32_t
crc_avx512(uint32_t c, const uint8_t *p, size_t n)
{
    return crc_avx512_body(c, p, n, 0, NULL);
}

/* crc_avx512 that also finds NaN/Inf; n a multiple of 256. */
__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.1"))) static uint32_t
crc_avx512_finite(uint32_t c, const uint8_t *p, size_t n, bool *finite)
{
    __mmask16 bad = 0;
    c = crc_avx512_body(c, p, n, 1, &bad);
    *finite = !bad;
    return c;
}

/* CPU feature answers, probed once; relaxed atomics because the daemon's
 * and the client's threads may ask first at the same time (same answer). */
static int crc_have_avx512(void)
{
    static _Atomic int have = -1;
    int h = atomic_load_explicit(&have, memory_order_relaxed);
    if (h < 0) {
        h = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq") &&
            __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
        atomic_store_explicit(&have, h, memory_order_relaxed);
    }
    return h;
}

static int crc_have_simd(void)
{
    static _Atomic int have = -1;
    int h = atomic_load_explicit(&have, memory_order_relaxed);
    if (h < 0) {
        h = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
        atomic_store_explicit(&have, h, memory_order_relaxed);
    }
    return h;
}
#endif

/* Continues zlib-compatible crc over len bytes. */
static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t len)
{
#ifdef WIRE_CRC_SIMD
    if (len >= 256 && crc_have_avx512()) {
        size_t bulk = len & ~(size_t)15;
        crc = ~crc_avx512(~crc, p, bulk);
        p += bulk;
        len -= bulk;
    } else if (len >= 64 && crc_have_simd()) {
        size_t bulk = len & ~(size_t)15;
        crc = ~crc_simd(~crc, p, bulk);
        p += bulk;
        len -= bulk;
    }
#endif
    while (len) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        crc = (uint32_t)crc32(crc, p, n);
        p += n;
        len -= n;
    }
    return crc;
}

uint32_t psync_wire_crc(const void *data, size_t len)
{
    return crc_update(0, data, len);
}

uint32_t psync_wire_crc_update(uint32_t crc, const void *data, size_t len)
{
    return crc_update(crc, data, len);
}

uint32_t psync_wire_copy_crc(void *dst, const void *src, size_t len)
{
    return psync_wire_copy_crc_update(0, dst, src, len);
}

uint32_t psync_wire_copy_crc_update(uint32_t c, void *dst, const void *src, size_t len)
{
    /* 64 KiB blocks: each is checksummed right after its copy, while it is
     * still in cache, so the bytes cross memory once instead of twice. */
    for (size_t off = 0; off < len; off += 65536) {
        size_t n = len - off < 65536 ? len - off : 65536;
        memcpy((uint8_t *)dst + off, (const uint8_t *)src + off, n);
        c = crc_update(c, (const uint8_t *)dst + off, n);
    }
    return c;
}

/* true if every 4-byte f32 in p[0, n) is finite (n a multiple of 4). */
static bool crc_floats_finite(const uint8_t *p, size_t n)
{
    uint32_t bad = 0, u;
    for (size_t i = 0; i + 4 <= n; i += 4) {
        memcpy(&u, p + i, 4);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

uint32_t psync_wire_crc_finite(uint32_t crc, const void *data, size_t len, bool *finite)
{
    const uint8_t *p = data;
    bool ok = true;
#ifdef WIRE_CRC_SIMD
    if (len >= 256 && crc_have_avx512()) {
        size_t bulk = len & ~(size_t)255;
        crc = ~crc_avx512_finite(~crc, p, bulk, &ok);
        p += bulk;
        len -= bulk;
    }
#endif
    *finite = crc_floats_finite(p, len) && ok;
    return crc_update(crc, p, len);
}
