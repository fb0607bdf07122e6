# Helpers shared by every target: warnings, sanitizers, and the three target kinds.

set(COFFRE_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
    -Woverloaded-virtual -Wimplicit-fallthrough)
# GCC 12 reports false -Wrestrict and -Warray-bounds hits inside libstdc++'s string and vector
# code at -O3 (GCC bugs 105329, 105651); they are not about our code.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  list(APPEND COFFRE_WARNINGS -Wno-restrict)
endif()
if(COFFRE_WERROR)
  list(APPEND COFFRE_WARNINGS -Werror)
endif()

set(COFFRE_SANITIZER_FLAGS "")
if(COFFRE_SANITIZE)
  set(COFFRE_SANITIZER_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer
      -fno-sanitize-recover=undefined)
  # Sanitizer instrumentation makes GCC's -Wmaybe-uninitialized misfire inside Boost and
  # libstdc++ (boost::optional in Beast's parser); the release build keeps the warning.
  list(APPEND COFFRE_WARNINGS -Wno-maybe-uninitialized)
endif()

function(coffre_apply_flags target)
  target_compile_options(${target} PRIVATE ${COFFRE_WARNINGS} ${COFFRE_SANITIZER_FLAGS})
  target_link_options(${target} PRIVATE ${COFFRE_SANITIZER_FLAGS})
endfunction()

# coffre_library(NAME SRCS ... DEPS ...): one library per src/ folder; DEPS is the
# dependency rule of DESIGN.md, so a folder can only include what it links.
function(coffre_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(coffre_${name} STATIC ${ARG_SRCS})
  add_library(coffre::${name} ALIAS coffre_${name})
  target_include_directories(coffre_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(coffre_${name} PUBLIC ${ARG_DEPS})
  coffre_apply_flags(coffre_${name})
endfunction()

# coffre_test(NAME SRCS ... DEPS ...): a GoogleTest binary whose tests ctest lists one by one.
function(coffre_test name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS} ${PROJECT_SOURCE_DIR}/tests/test_main.cc)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock)
  target_compile_definitions(${name} PRIVATE
      COFFRE_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data")
  coffre_apply_flags(${name})
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST
      PROPERTIES ENVIRONMENT "COFFRE_TEST_DATA_DIR=${PROJECT_SOURCE_DIR}/tests/data")
endfunction()
