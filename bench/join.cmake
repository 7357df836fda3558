# Hot-join benchmark: bootstrap from psyncd vs a raw ZeroMQ chunked transfer.
if(TARGET psync_client AND TARGET psyncd)
  add_executable(join_bench ${CMAKE_CURRENT_LIST_DIR}/join_bench.c)
  target_link_libraries(join_bench PRIVATE psync_client psync_benchmodel psync_benchkit)
  target_compile_definitions(join_bench PRIVATE PSYNC_BENCH_PSYNCD="$<TARGET_FILE:psyncd>")
  add_dependencies(join_bench psyncd)
  psync_bench_smoke(join_bench --size-mb 1 --reps 1)
endif()
if(TARGET join_bench AND PSYNC_TESTS)
  add_test(NAME bench_smoke_join_bench_curve
    COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/smoke.sh $<TARGET_FILE:join_bench> --size-mb 1 --reps 1 --curve)
  set_tests_properties(bench_smoke_join_bench_curve PROPERTIES TIMEOUT 60 LABELS bench)
endif()
