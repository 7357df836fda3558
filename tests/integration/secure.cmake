# Hostile-peer tests over 127.0.0.1 with a real psyncd: CURVE + allow-list
# (intruders refused, workers served, wrong server key), hard limits and
# the flood test. Labelled "daemon" (as is cluster_test) so tests/run.sh
# runs them under ThreadSanitizer too.
function(psync_daemon_test name)
  psync_unit_test(${name}
    SOURCES ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/${name}.c
            ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/cluster_kit.c
    LIBS psync_client psync)
  target_compile_definitions(${name} PRIVATE PSYNCD_PATH="$<TARGET_FILE:psyncd>"
    PSYNC_WORKER_PATH="$<TARGET_FILE:psync-worker>" PSYNC_CLI_PATH="$<TARGET_FILE:psync-cli>")
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_FUNCTION_LIST_DIR})
  add_dependencies(${name} psyncd psync-worker psync-cli)
  set_tests_properties(${name} PROPERTIES TIMEOUT 60 LABELS daemon)
endfunction()

if(TARGET psyncd AND TARGET psync_client AND TARGET psync-worker AND TARGET psync-cli)
  psync_daemon_test(secure_cluster_test)
  psync_daemon_test(limits_test)
  psync_daemon_test(flood_test)
  if(TEST cluster_test)
    set_tests_properties(cluster_test PROPERTIES LABELS daemon)
  endif()
  if(PSYNC_TSAN) # ctest -L daemon under ThreadSanitizer (tests/run.sh does)
    foreach(t secure_cluster_test limits_test flood_test cluster_test)
      if(TEST ${t})
        set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT
          "TSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/tsan.supp:exitcode=66")
        set_property(TEST ${t} PROPERTY TIMEOUT 120)
      endif()
    endforeach()
  endif()
endif()
