# Whole-cluster tests: a real psyncd process and clients of libpsync_client
# (plus raw sockets for hostile messages) in the test. cluster_test runs
# over 127.0.0.1 TCP; shm_test over ipc://, where same-host members use
# shared memory.
if(TARGET psyncd AND TARGET psync_client)
  foreach(t cluster_test shm_test)
    psync_unit_test(${t}
      SOURCES ${CMAKE_CURRENT_LIST_DIR}/${t}.c ${CMAKE_CURRENT_LIST_DIR}/cluster_kit.c
      LIBS psync_client psync)
    target_compile_definitions(${t} PRIVATE PSYNCD_PATH="$<TARGET_FILE:psyncd>")
    target_include_directories(${t} PRIVATE ${CMAKE_CURRENT_LIST_DIR})
    add_dependencies(${t} psyncd)
    set_tests_properties(${t} PROPERTIES TIMEOUT 60 LABELS daemon)
  endforeach()
endif()
