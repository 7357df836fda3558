# Hostile-peer tests over 127.0.0.1 with a real psyncd: CURVE + allow-list
# (intruders refused, workers served, wrong server key), hard limits and
# the flood test. Labelled "daemon" (psync_kit_test, as every kit test) so
# tests/run.sh runs them under ThreadSanitizer too.
function(psync_daemon_test name) # a kit test that also runs psync-worker and psync
  psync_kit_test(${name})
  target_compile_definitions(${name} PRIVATE PSYNC_WORKER_PATH="$<TARGET_FILE:psync-worker>"
    PSYNC_CLI_PATH="$<TARGET_FILE:psync-cli>")
  add_dependencies(${name} psync-worker psync-cli)
endfunction()

if(TARGET psyncd AND TARGET psync_client AND TARGET psync-worker AND TARGET psync-cli)
  psync_daemon_test(secure_cluster_test)
  psync_daemon_test(limits_test)
  psync_daemon_test(flood_test)
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
