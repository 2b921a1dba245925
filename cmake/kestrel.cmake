# Helpers shared by every module's CMakeLists.txt.
#
# kestrel_options(target): our warning set (-Werror) and include root. Applied to
# our own targets only, never to GoogleTest/Benchmark.
function(kestrel_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wshadow
    -Wnon-virtual-dtor -Wcast-align -Wunused -Wpedantic
    # GCC's loop pragmas (`#pragma GCC ivdep`) are hints clang does not know.
    $<$<CXX_COMPILER_ID:Clang>:-Wno-unknown-pragmas>)
endfunction()

# Object lists gathered across modules for the single test and bench binaries.
set_property(GLOBAL PROPERTY KESTREL_TEST_SOURCES "")
set_property(GLOBAL PROPERTY KESTREL_TEST_LIBS "")
set_property(GLOBAL PROPERTY KESTREL_BENCH_SOURCES "")
set_property(GLOBAL PROPERTY KESTREL_BENCH_LIBS "")

# kestrel_module_tests(lib src...): unit tests of module `lib` (one gtest binary
# per module, so a module's tests rebuild alone while iterating).
function(kestrel_module_tests lib)
  if(NOT KESTREL_TESTS)
    return()
  endif()
  set(exe ${lib}_test)
  add_executable(${exe} ${ARGN})
  kestrel_options(${exe})
  target_link_libraries(${exe} PRIVATE ${lib} GTest::gtest GTest::gtest_main GTest::gmock)
  include(GoogleTest)
  gtest_discover_tests(${exe} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)
endfunction()

# kestrel_module_benches(lib src...): micro-benchmarks beside the code, linked
# into the one kestrel-microbench binary (bench/CMakeLists.txt).
function(kestrel_module_benches lib)
  foreach(src ${ARGN})
    set_property(GLOBAL APPEND PROPERTY KESTREL_BENCH_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/${src})
  endforeach()
  set_property(GLOBAL APPEND PROPERTY KESTREL_BENCH_LIBS ${lib})
endfunction()

# AVX2 sources: compiled with -mavx2 (and friends) only for those files; callers
# dispatch at run time on cpu_features().avx2 (which requires all four
# extensions), so the binary stays portable.
function(kestrel_avx2_sources)
  set_source_files_properties(${ARGN} PROPERTIES COMPILE_OPTIONS "-mavx2;-mbmi;-mbmi2;-mpopcnt")
endfunction()

# kestrel_fuzzer(name source lib...): a libFuzzer target beside the code it
# fuzzes, built only with the `fuzz` preset (clang; `make fuzz` runs them).
function(kestrel_fuzzer name source)
  if(NOT KESTREL_FUZZ)
    return()
  endif()
  add_executable(${name} ${source})
  kestrel_options(${name})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${name} PRIVATE ${ARGN})
endfunction()
