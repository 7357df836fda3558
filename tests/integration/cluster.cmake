# Whole-cluster tests over 127.0.0.1 TCP: a real psyncd process and clients
# of libpsync_client (plus raw sockets for hostile messages) in the test.
if(TARGET psyncd AND TARGET psync_client)
  psync_unit_test(cluster_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/cluster_test.c ${CMAKE_CURRENT_LIST_DIR}/cluster_kit.c
    LIBS psync_client psync)
  target_compile_definitions(cluster_test PRIVATE PSYNCD_PATH="$<TARGET_FILE:psyncd>")
  target_include_directories(cluster_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  add_dependencies(cluster_test psyncd)
  set_tests_properties(cluster_test PROPERTIES TIMEOUT 60)
endif()
