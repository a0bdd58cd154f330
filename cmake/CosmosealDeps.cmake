# Third-party dependencies, all from Debian 12 packages (scripts/install-deps.sh installs them).
# Each failure names the package to install, so a fresh machine tells the operator what to do.

find_package(PkgConfig QUIET)

function(cosmoseal_require found pkg what)
  if(NOT ${found})
    message(FATAL_ERROR "cosmoseal: ${what} not found. Install the Debian package '${pkg}' "
                        "(or run scripts/install-deps.sh).")
  endif()
endfunction()

# OpenSSL 3 (libssl-dev)
find_package(OpenSSL 3.0 QUIET)
cosmoseal_require(OpenSSL_FOUND libssl-dev "OpenSSL >= 3.0")

# libuv (libuv1-dev)
if(PkgConfig_FOUND)
  pkg_check_modules(LIBUV QUIET IMPORTED_TARGET libuv>=1.44)
endif()
cosmoseal_require(LIBUV_FOUND libuv1-dev "libuv >= 1.44")

# simdjson (libsimdjson-dev)
find_package(simdjson QUIET CONFIG)
cosmoseal_require(simdjson_FOUND libsimdjson-dev "simdjson")
# Debian's simdjson target exports SIMDJSON_THREADS_ENABLED. Every translation unit that includes
# simdjson.h (policy/ and its tests) must agree on it, or two builds of simdjson's inline code
# end up in one binary (an ODR violation that crashed a test): define it everywhere.
get_target_property(_simdjson_defs simdjson::simdjson INTERFACE_COMPILE_DEFINITIONS)
if(_simdjson_defs)
  add_compile_definitions(${_simdjson_defs})
endif()

# yaml-cpp (libyaml-cpp-dev)
find_package(yaml-cpp QUIET CONFIG)
cosmoseal_require(yaml-cpp_FOUND libyaml-cpp-dev "yaml-cpp")

# llhttp: Debian's node-llhttp ships the generated C sources; we compile them ourselves.
find_path(LLHTTP_INCLUDE_DIR llhttp.h
          PATHS /usr/share/include/llhttp /usr/include/llhttp /usr/local/include
          NO_DEFAULT_PATH)
find_file(LLHTTP_SRC_LLHTTP llhttp.c PATHS /usr/share/llhttp NO_DEFAULT_PATH)
find_file(LLHTTP_SRC_API api.c PATHS /usr/share/llhttp NO_DEFAULT_PATH)
find_file(LLHTTP_SRC_HTTP http.c PATHS /usr/share/llhttp NO_DEFAULT_PATH)
if(NOT LLHTTP_INCLUDE_DIR OR NOT LLHTTP_SRC_LLHTTP OR NOT LLHTTP_SRC_API OR NOT LLHTTP_SRC_HTTP)
  message(FATAL_ERROR "cosmoseal: llhttp C sources not found in /usr/share/llhttp and "
                      "/usr/share/include/llhttp. Install the Debian package 'node-llhttp' "
                      "(or run scripts/install-deps.sh).")
endif()
add_library(cosmoseal_llhttp STATIC ${LLHTTP_SRC_LLHTTP} ${LLHTTP_SRC_API} ${LLHTTP_SRC_HTTP})
target_include_directories(cosmoseal_llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
set_target_properties(cosmoseal_llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON C_STANDARD 99)
target_compile_options(cosmoseal_llhttp PRIVATE -w)

find_package(Threads REQUIRED)

if(COSMOSEAL_TESTS)
  find_package(GTest QUIET CONFIG)
  if(NOT GTest_FOUND)
    find_package(GTest QUIET)
  endif()
  cosmoseal_require(GTest_FOUND "libgtest-dev libgmock-dev" "GoogleTest")
endif()

if(COSMOSEAL_BENCH)
  find_package(benchmark QUIET CONFIG)
  if(NOT benchmark_FOUND)
    message(STATUS "cosmoseal: Google Benchmark (libbenchmark-dev) not found; micro benches skipped")
  endif()
endif()
