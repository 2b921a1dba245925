// The AVX2 path of the poly layer (FIPS 203 sections 4.2-4.3). Compiled with
// -mavx2; reached only through avx2_ops(), which select_path() returns when the
// CPU has AVX2 and the gate crypto.avx2 is on.
#include <immintrin.h>

#include "crypto/mlkem/avx2.h"
#include "crypto/mlkem/ntt.h"
#include "crypto/mlkem/poly.h"

namespace kestrel::crypto::mlkem {

namespace detail {}  // namespace detail

const PolyOps& avx2_ops() {
  static const PolyOps table = [] {
    PolyOps t = portable_ops();
    t.name = "avx2";
    t.ntt = detail::ntt_avx2;
    t.inverse_ntt = detail::inverse_ntt_avx2;
    t.multiply_ntts_acc = detail::multiply_ntts_acc_avx2;
    return t;
  }();
  return table;
}

}  // namespace kestrel::crypto::mlkem
