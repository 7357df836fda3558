# Freeze/thaw benchmark: psync blob codec vs memcpy vs torch.save/load.
add_executable(blob_bench ${CMAKE_CURRENT_LIST_DIR}/blob_bench.c)
target_link_libraries(blob_bench PRIVATE psync psync_benchkit)
psync_bench_smoke(blob_bench --size-mb 1 --reps 1)
