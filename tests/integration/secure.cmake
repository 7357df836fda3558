# Hostile-peer tests over 127.0.0.1 with a real psyncd: CURVE + allow-list
# (intruders refused, workers served, wrong server key), the flood test.
# Labelled "daemon" so tests/run.sh can run them under ThreadSanitizer.
if(TARGET psyncd AND TARGET psync_client AND TARGET psync-worker)
  psync_unit_test(secure_cluster_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/secure_cluster_test.c ${CMAKE_CURRENT_LIST_DIR}/cluster_kit.c
    LIBS psync_client psync)
  target_compile_definitions(secure_cluster_test PRIVATE PSYNCD_PATH="$<TARGET_FILE:psyncd>"
    PSYNC_WORKER_PATH="$<TARGET_FILE:psync-worker>")
  target_include_directories(secure_cluster_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  add_dependencies(secure_cluster_test psyncd psync-worker)
  set_tests_properties(secure_cluster_test PROPERTIES TIMEOUT 60 LABELS daemon)
endif()

if(TARGET psyncd AND TARGET psync_client AND TARGET psync-cli)
  psync_unit_test(flood_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/flood_test.c ${CMAKE_CURRENT_LIST_DIR}/cluster_kit.c
    LIBS psync_client psync)
  target_compile_definitions(flood_test PRIVATE PSYNCD_PATH="$<TARGET_FILE:psyncd>"
    PSYNC_CLI_PATH="$<TARGET_FILE:psync-cli>")
  target_include_directories(flood_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  add_dependencies(flood_test psyncd psync-cli)
  set_tests_properties(flood_test PROPERTIES TIMEOUT 60 LABELS daemon)
endif()
