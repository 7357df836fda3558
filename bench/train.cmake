# Training throughput: psync's engine vs PyTorch, same MLP, one BLAS thread.
if(TARGET psync_engine)
  add_executable(train_bench ${CMAKE_CURRENT_LIST_DIR}/train_bench.c)
  target_link_libraries(train_bench PRIVATE psync_engine psync_benchkit)
  psync_bench_smoke(train_bench --samples 640 --reps 1)
endif()
