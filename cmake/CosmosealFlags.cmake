# Warning and hardening flags for cosmoseal's own targets (never for third-party code).
# Warnings are errors in the project's own scripts and CI (scripts/build.sh turns COSMOSEAL_WERROR
# on), not for users and packagers: a newer compiler's new warning must not break their build.
set(COSMOSEAL_WARNINGS -Wall -Wextra)
if(COSMOSEAL_WERROR)
  list(APPEND COSMOSEAL_WARNINGS -Werror)
endif()
list(APPEND COSMOSEAL_WARNINGS -Wnon-virtual-dtor -Wno-missing-field-initializers)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND COSMOSEAL_WARNINGS -Wshadow=local)  # gcc only; clang spells it differently
else()
  list(APPEND COSMOSEAL_WARNINGS -Wshadow-uncaptured-local)
endif()
set(COSMOSEAL_HARDENING -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fno-plt)

if(COSMOSEAL_FUZZ)
  # Instrument every library for coverage feedback (libFuzzer links only into the *_fuzz
  # binaries; the replay binaries get the sanitizer runtimes' default coverage callbacks).
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

if(COSMOSEAL_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# Apply our flags to a target we own.
function(cosmoseal_target_flags target)
  target_compile_options(${target} PRIVATE ${COSMOSEAL_WARNINGS})
  if(NOT COSMOSEAL_SANITIZE AND NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
    target_compile_options(${target} PRIVATE ${COSMOSEAL_HARDENING})
  endif()
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
endfunction()

# Linker hardening for executables.
set(COSMOSEAL_EXE_LINK_FLAGS -Wl,-z,relro,-z,now -pie)
