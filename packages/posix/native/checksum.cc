// The word loop of core's checksum32 (sum over 32-bit little-endian words of
// imul(word ^ imul(index + 1, G), M)), read in place: core's WebAssembly loop
// must first copy the bytes into its own memory, which on a 1 MiB message
// costs more than the sum itself. AVX2 where the CPU has it, else a plain
// loop the compiler vectorizes with SSE2.
#include "common.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ipc {

static constexpr uint32_t kGolden = 0x9e3779b1u;
static constexpr uint32_t kMix = 0x85ebca77u;

static inline uint32_t LoadWord(const uint8_t* p) {
  uint32_t w;
  std::memcpy(&w, p, 4);  // unaligned; little-endian on every target Node runs on here
  return w;
}

static uint32_t SumScalar(const uint8_t* p, size_t words, uint32_t first) {
  uint32_t sum = 0;
  uint32_t k = (first + 1u) * kGolden;
  for (size_t i = 0; i < words; i++, k += kGolden) sum += (LoadWord(p + 4 * i) ^ k) * kMix;
  return sum;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static uint32_t SumAvx2(const uint8_t* p, size_t words, uint32_t first) {
  const __m256i mul = _mm256_set1_epi32(static_cast<int>(kMix));
  const __m256i g = _mm256_set1_epi32(static_cast<int>(kGolden));
  const __m256i step = _mm256_set1_epi32(static_cast<int>(16u * kGolden));
  const __m256i base = _mm256_set1_epi32(static_cast<int>(first + 1u));
  __m256i k0 = _mm256_mullo_epi32(_mm256_add_epi32(base, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), g);
  __m256i k1 = _mm256_mullo_epi32(_mm256_add_epi32(base, _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15)), g);
  __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 16 <= words; i += 16) {
    __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 4 * i));
    __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 4 * i + 32));
    a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_xor_si256(w0, k0), mul));
    a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(_mm256_xor_si256(w1, k1), mul));
    k0 = _mm256_add_epi32(k0, step);
    k1 = _mm256_add_epi32(k1, step);
  }
  __m256i a = _mm256_add_epi32(a0, a1);
  __m128i h = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
  uint32_t s = static_cast<uint32_t>(_mm_cvtsi128_si32(h));
  return s + SumScalar(p + 4 * i, words - i, first + static_cast<uint32_t>(i));
}
#endif

static uint32_t Sum(const uint8_t* p, size_t words, uint32_t first) {
#if defined(__x86_64__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return SumAvx2(p, words, first);
#endif
  return SumScalar(p, words, first);
}

// wordSum(bytes, offset, length, firstIndex) -> int32: the sum over the
// length / 4 whole words at bytes[offset], the first being word `firstIndex`.
static Napi::Value WordSum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* data;
  size_t size, off, len;
  int64_t first;
  if (!BytesArg(info, 0, &data, &size) || !RangeArg(info, 1, size, &off, &len) || !IntArg(info, 3, "firstIndex", 0, 4294967295.0, &first)) {
    return env.Undefined();
  }
  uint32_t s = Sum(data + off, len / 4, static_cast<uint32_t>(first));
  return Napi::Number::New(env, static_cast<int32_t>(s));
}

void InitChecksum(Napi::Env env, Napi::Object exports) {
  exports.Set("wordSum", Napi::Function::New(env, WordSum, "wordSum"));
}

}  // namespace ipc
