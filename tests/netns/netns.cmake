# netem_wire: a userspace link emulator (delay, jitter, loss, rate) between two
# network namespaces over TUN devices, for kernels without sch_netem; used by
# tests/integration/netns_test.sh (netns_partition). Linux only; it takes
# psync's RNG source file and nothing else from the project.
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  add_executable(netem_wire ${CMAKE_CURRENT_LIST_DIR}/netem_wire.c
    ${PROJECT_SOURCE_DIR}/worker/engine/rng.c)
  target_include_directories(netem_wire PRIVATE ${PROJECT_SOURCE_DIR}/worker/engine)
endif()
