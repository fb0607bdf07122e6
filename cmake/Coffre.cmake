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
if(COFFRE_FUZZ)
  # Every library the fuzz targets link is instrumented too: coverage, so that libFuzzer sees
  # which branches of src/ an input reaches (without it only the target's own file counted), and
  # ASan/UBSan, so that a bad access in src/ is caught where it happens.
  set(COFFRE_SANITIZER_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
endif()

# Code off the hub's message path (the CLI, the vault, the key providers, flag parsing) compiles
# at -O1 in Release: about a quarter less compile time for these files, and none of it is
# CPU-bound at run time. The message path (mqtt, amqp, hub, hubapi,
# hubservice, storage, crypto, common, net) compiles at the release preset's -O2.
# docs/ARCHITECTURE.md, "Keeping the build fast".
set(COFFRE_COLD_FLAGS $<$<CONFIG:Release>:-O1>)

# coffre_cold_code([TARGETS t...] [SOURCES f...]): those compile with COFFRE_COLD_FLAGS. SOURCES
# are files of a target defined in the calling directory.
function(coffre_cold_code)
  cmake_parse_arguments(ARG "" "" "TARGETS;SOURCES" ${ARGN})
  foreach(t IN LISTS ARG_TARGETS)
    target_compile_options(${t} PRIVATE ${COFFRE_COLD_FLAGS})
  endforeach()
  if(ARG_SOURCES)
    set_property(SOURCE ${ARG_SOURCES} APPEND PROPERTY COMPILE_OPTIONS ${COFFRE_COLD_FLAGS})
  endif()
endfunction()

function(coffre_apply_flags target)
  target_compile_options(${target} PRIVATE ${COFFRE_WARNINGS} ${COFFRE_SANITIZER_FLAGS})
  target_link_options(${target} PRIVATE ${COFFRE_SANITIZER_FLAGS})
endfunction()

# coffre_library(NAME [COLD] SRCS ... [DEPS ...] [PUBLIC_DEPS ...]): one library per src/ folder
# (folders may nest: src/vault/seal). Its link list is the dependency rule of
# docs/ARCHITECTURE.md: a file of the folder may include only its own folder and what the target
# links (checked in ctest by scripts/check_layers.py). DEPS are PRIVATE: what the .cc files use.
# PUBLIC_DEPS are the ones the folder's public headers include, so a user of this library gets
# them too. Every library sees src/ as its include root, so the compiler cannot refuse a
# back-include: the check does.
# COLD: off the message path, compiled with COFFRE_COLD_FLAGS (above).
function(coffre_library name)
  cmake_parse_arguments(ARG "COLD" "" "SRCS;DEPS;PUBLIC_DEPS" ${ARGN})
  add_library(coffre_${name} STATIC ${ARG_SRCS})
  add_library(coffre::${name} ALIAS coffre_${name})
  target_include_directories(coffre_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(coffre_${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_DEPS})
  coffre_apply_flags(coffre_${name})
  if(ARG_COLD)
    coffre_cold_code(TARGETS coffre_${name})
  endif()
  if(COFFRE_UNITY)
    # After the folder's CMakeLists.txt, so that per-file flags set there are seen.
    cmake_language(EVAL CODE "cmake_language(DEFER CALL _coffre_unity coffre_${name})")
  endif()
endfunction()

# Unity build of a library (COFFRE_UNITY, on by default): its .cc files compile in batches of
# COFFRE_UNITY_BATCH, each batch one translation unit that includes them. Most of a Coffre
# translation unit's time is spent on the same headers (Boost.Asio and Beast, nlohmann/json,
# OpenSSL, Proton) and on the same template instantiations; a batch pays for them once. On two
# cores this halves the CPU time of a fresh build (docs/ARCHITECTURE.md, "Keeping the build
# fast"). Not CMake's UNITY_BUILD: its batch files include sources by absolute path, so a clone
# elsewhere would miss every ccache entry; ours include them relative to src/. A file with flags
# of its own (COMPILE_OPTIONS, e.g. coffre_cold_code) or SKIP_UNITY_BUILD_INCLUSION compiles
# alone. The price: a file's anonymous-namespace names must not clash with another's of the same
# library, and editing one file recompiles its batch (configure with -DCOFFRE_UNITY=OFF while
# working on one library).
function(_coffre_unity target)
  get_target_property(sources ${target} SOURCES)
  set(eligible "")
  foreach(src IN LISTS sources)
    get_source_file_property(options ${src} COMPILE_OPTIONS)
    get_source_file_property(skip ${src} SKIP_UNITY_BUILD_INCLUSION)
    if(src MATCHES "\\.cc$" AND NOT options AND NOT skip)
      list(APPEND eligible ${src})
    endif()
  endforeach()
  list(LENGTH eligible count)
  set(index 0)
  foreach(start RANGE 0 ${count} ${COFFRE_UNITY_BATCH})
    if(start EQUAL count)  # a count that is a multiple of the batch size
      break()
    endif()
    list(SUBLIST eligible ${start} ${COFFRE_UNITY_BATCH} batch)
    list(LENGTH batch n)
    if(n LESS 2)  # a file alone compiles as it is
      continue()
    endif()
    set(content "// Generated by cmake/Coffre.cmake (_coffre_unity): one translation unit for these.\n")
    foreach(file IN LISTS batch)
      file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR}/${file})
      string(APPEND content "#include \"${rel}\"\n")
    endforeach()
    set(unity ${CMAKE_CURRENT_BINARY_DIR}/${target}_unity_${index}.cc)
    file(CONFIGURE OUTPUT ${unity} CONTENT "${content}" @ONLY)  # rewritten only if it changed
    target_sources(${target} PRIVATE ${unity})
    set_source_files_properties(${batch} PROPERTIES HEADER_FILE_ONLY ON)
    math(EXPR index "${index} + 1")
  endforeach()
endfunction()

# The targets defined in DIR and below it.
function(_coffre_targets_below dir out)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    _coffre_targets_below(${sub} below)
    list(APPEND targets ${below})
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()

# A link list with aliases resolved to their targets; $<LINK_ONLY:x> (a static library's PRIVATE
# dep as its INTERFACE_LINK_LIBRARIES records it) dropped.
function(_coffre_json_links target property out)
  get_target_property(links ${target} ${property})
  set(items "")
  foreach(l IN LISTS links)
    if(l MATCHES "^\\$<LINK_ONLY:" OR l STREQUAL "links-NOTFOUND")
      continue()
    endif()
    if(TARGET ${l})
      get_target_property(aliased ${l} ALIASED_TARGET)
      if(aliased)
        set(l ${aliased})
      endif()
    endif()
    list(APPEND items "\"${l}\"")
  endforeach()
  list(JOIN items ", " joined)
  set(${out} "[${joined}]" PARENT_SCOPE)
endfunction()

# coffre_write_layers(FILE): after every target is defined, writes each library, executable and
# test of the tree with its source dir, sources, direct links and PUBLIC links, as JSON for
# scripts/check_layers.py. The check reads the CMakeLists through this file, never a copied table.
function(coffre_write_layers file)
  _coffre_targets_below(${PROJECT_SOURCE_DIR} targets)
  set(entries "")
  foreach(t IN LISTS targets)
    get_target_property(type ${t} TYPE)
    if(NOT type MATCHES "^(STATIC_LIBRARY|OBJECT_LIBRARY|SHARED_LIBRARY|EXECUTABLE)$")
      continue()
    endif()
    get_target_property(dir ${t} SOURCE_DIR)
    get_target_property(srcs ${t} SOURCES)
    set(items "")
    foreach(s IN LISTS srcs)
      # Generated files (unity batches) are in the build tree, not a folder of src/.
      if(NOT s MATCHES "^\\$<" AND NOT s MATCHES "^${PROJECT_BINARY_DIR}/")
        list(APPEND items "\"${s}\"")
      endif()
    endforeach()
    list(JOIN items ", " sources)
    _coffre_json_links(${t} LINK_LIBRARIES links)
    _coffre_json_links(${t} INTERFACE_LINK_LIBRARIES public)
    list(APPEND entries "  {\"name\": \"${t}\", \"type\": \"${type}\", \"source_dir\": \"${dir}\",\n   \"sources\": [${sources}],\n   \"links\": ${links},\n   \"public\": ${public}}")
  endforeach()
  list(JOIN entries ",\n" body)
  file(GENERATE OUTPUT ${file} CONTENT "{\"source_root\": \"${PROJECT_SOURCE_DIR}\", \"targets\": [\n${body}\n]}\n")
endfunction()

# coffre_test(NAME [COST SECONDS] SRCS ... DEPS ... [PROPERTIES KEY VALUE...]): a GoogleTest
# binary whose tests ctest lists one by one. COST (every test of the binary): for a binary of one
# long test, so that a fresh clone's first `ctest -j` starts it early rather than last
# (tests/CMakeLists.txt, "Scheduling"). PROPERTIES: more ctest properties of every test of the
# binary (LABELS, RUN_SERIAL, TIMEOUT).
function(coffre_test name)
  cmake_parse_arguments(ARG "" "COST" "SRCS;DEPS;PROPERTIES" ${ARGN})
  set(cost "")
  if(ARG_COST)
    set(cost COST ${ARG_COST})
  endif()
  add_executable(${name} ${ARG_SRCS} ${PROJECT_SOURCE_DIR}/tests/test_main.cc)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock)
  target_compile_definitions(${name} PRIVATE
      COFFRE_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data")
  coffre_apply_flags(${name})
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST
      PROPERTIES ENVIRONMENT "COFFRE_TEST_DATA_DIR=${PROJECT_SOURCE_DIR}/tests/data" ${cost}
                 ${ARG_PROPERTIES})
endfunction()
