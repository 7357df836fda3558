# Wire header decoder fuzzer (see fuzz.cmake for psync_fuzz_target). Seeds:
# one valid header per message type (tests/fuzz/corpus/wire), written by
# wire_corpus_gen, plus hostile variants.
if(COMMAND psync_fuzz_target)
  psync_fuzz_target(wire_fuzz ${CMAKE_CURRENT_LIST_DIR}/wire_fuzz.c
    ${CMAKE_CURRENT_LIST_DIR}/corpus/wire ${CMAKE_CURRENT_LIST_DIR}/fuzz_replay.c)
endif()
# Per-message-type codec fuzzer: the first input byte picks the type.
if(COMMAND psync_fuzz_target)
  psync_fuzz_target(wire_msg_fuzz ${CMAKE_CURRENT_LIST_DIR}/wire_msg_fuzz.c
    ${CMAKE_CURRENT_LIST_DIR}/corpus/wire_msg ${CMAKE_CURRENT_LIST_DIR}/fuzz_replay.c)
endif()
