# Fuzz harnesses. psync_fuzz_target(NAME SOURCE CORPUS_DIR [EXTRA_SOURCES...]): with
# -DPSYNC_FUZZ=ON (clang) NAME is a libFuzzer binary; otherwise the same
# sources are built with a replay main() (pass fuzz_replay.c) as NAME_replay, a ctest that runs
# every file of CORPUS_DIR. tests/fuzz/run-fuzzers.sh runs the harnesses.
function(psync_fuzz_target name source corpus)
  if(PSYNC_FUZZ)
    add_executable(${name} ${source} ${ARGN})
    target_compile_definitions(${name} PRIVATE PSYNC_FUZZ_ENGINE=1)
    target_link_libraries(${name} PRIVATE psync)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(${name}_replay ${source} ${ARGN})
    target_link_libraries(${name}_replay PRIVATE psync)
    add_test(NAME ${name}_replay COMMAND ${name}_replay ${corpus})
    set_tests_properties(${name}_replay PROPERTIES TIMEOUT 60)
  endif()
endfunction()

psync_fuzz_target(blob_fuzz ${CMAKE_CURRENT_LIST_DIR}/blob_fuzz.c
  ${CMAKE_CURRENT_LIST_DIR}/corpus/blob ${CMAKE_CURRENT_LIST_DIR}/fuzz_replay.c)

# Writes the seed blobs: blob_corpus_gen tests/fuzz/corpus/blob
if(NOT PSYNC_FUZZ)
  add_executable(blob_corpus_gen ${CMAKE_CURRENT_LIST_DIR}/gen_corpus.c
    ${PROJECT_SOURCE_DIR}/tests/unit/testmodel.c)
  target_include_directories(blob_corpus_gen PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit)
  target_link_libraries(blob_corpus_gen PRIVATE psync)
endif()
