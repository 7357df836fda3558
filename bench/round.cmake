# Sync-round benchmark: round_worker (psync client) driven by round_bench.sh
# against gloo_round.py and pyzmq_round.py, star_raw: the same star in raw
# ZeroMQ (the transport floor under psync's round), and shard_raw: the
# floor of a sharded round (one hub beside each worker).
if(TARGET psync_client)
  add_executable(round_worker ${CMAKE_CURRENT_LIST_DIR}/round_worker.c)
  target_link_libraries(round_worker PRIVATE psync_client psync_benchmodel psync_benchkit)
endif()
add_library(psync_rawzmq STATIC ${CMAKE_CURRENT_LIST_DIR}/rawzmq.c)
target_link_libraries(psync_rawzmq PUBLIC PkgConfig::ZMQ)
foreach(raw star_raw shard_raw)
  add_executable(${raw} ${CMAKE_CURRENT_LIST_DIR}/${raw}.c)
  target_link_libraries(${raw} PRIVATE psync_benchkit psync_rawzmq)
  if(PSYNC_TESTS) # figures, no ratio: smoke.sh does not apply; exit 0 is the check
    add_test(NAME bench_smoke_${raw} COMMAND ${raw} --size-mb 1 --reps 1)
    set_tests_properties(bench_smoke_${raw} PROPERTIES TIMEOUT 60 LABELS bench)
  endif()
endforeach()
