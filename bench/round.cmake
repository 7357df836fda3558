# Sync-round benchmark: round_worker (psync client) driven by round_bench.sh
# against gloo_round.py and pyzmq_round.py.
if(TARGET psync_client)
  add_executable(round_worker ${CMAKE_CURRENT_LIST_DIR}/round_worker.c)
  target_link_libraries(round_worker PRIVATE psync_client psync_benchmodel psync_benchkit)
endif()
