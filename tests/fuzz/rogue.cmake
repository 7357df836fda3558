# Rogue-peer fuzzer: an in-process psyncd (psyncd_core) fed fuzzer-chosen
# multi-frame messages on both sockets; a good client must still be served.
# Seeds in tests/fuzz/corpus/rogue_peer, written by rogue_corpus_gen.
if(COMMAND psync_fuzz_target AND TARGET psyncd_core AND TARGET psync_client)
  psync_fuzz_target(rogue_peer_fuzz ${CMAKE_CURRENT_LIST_DIR}/rogue_peer_fuzz.c
    ${CMAKE_CURRENT_LIST_DIR}/corpus/rogue_peer
    ${CMAKE_CURRENT_LIST_DIR}/fuzz_replay.c ${PROJECT_SOURCE_DIR}/tests/unit/testmodel.c)
  set(rogue_target rogue_peer_fuzz)
  if(NOT PSYNC_FUZZ)
    set(rogue_target rogue_peer_fuzz_replay)
    # The in-process daemon keeps its members and model to the end, as
    # psyncd does at exit: no leak report for them.
    set_tests_properties(rogue_peer_fuzz_replay PROPERTIES LABELS daemon
      ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1;TSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/tsan.supp:exitcode=66")
    add_executable(rogue_corpus_gen ${CMAKE_CURRENT_LIST_DIR}/rogue_corpus_gen.c)
    target_link_libraries(rogue_corpus_gen PRIVATE psync)
  endif()
  target_include_directories(${rogue_target} PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit)
  target_link_libraries(${rogue_target} PRIVATE psyncd_core psync_client)
endif()
