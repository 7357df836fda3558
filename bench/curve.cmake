# CURVE cost on the bulk path: psync_security (CURVE + ZAP) vs plain ZeroMQ.
add_executable(curve_bench ${CMAKE_CURRENT_LIST_DIR}/curve_bench.c)
target_link_libraries(curve_bench PRIVATE psync psync_benchkit)
psync_bench_smoke(curve_bench --size-mb 8 --reps 1)
