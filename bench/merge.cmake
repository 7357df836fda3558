# Merge bandwidth: psyncd's averaging kernels vs a fused loop and memcpy.
if(TARGET psyncd_core)
  add_executable(merge_bench ${CMAKE_CURRENT_LIST_DIR}/merge_bench.c)
  target_link_libraries(merge_bench PRIVATE psyncd_core psync_benchkit)
  psync_bench_smoke(merge_bench --size-mb 1 --reps 1)
endif()
