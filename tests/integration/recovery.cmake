# Recovery from peer memory (docs/recovery.md): a restarted psyncd restores
# the newest merged version its workers hold, with fencing (recovery_test);
# the chaos harness kills workers and the daemon at random while a cluster
# trains (tests/chaos/chaos.sh, label slow).
if(TARGET psyncd AND TARGET psync_client)
  psync_unit_test(recovery_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/recovery_test.c ${CMAKE_CURRENT_LIST_DIR}/cluster_kit.c
    LIBS psync_client psync)
  target_compile_definitions(recovery_test PRIVATE PSYNCD_PATH="$<TARGET_FILE:psyncd>")
  target_include_directories(recovery_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  add_dependencies(recovery_test psyncd)
  set_tests_properties(recovery_test PROPERTIES TIMEOUT 60 LABELS daemon)
endif()
if(TARGET psyncd AND TARGET psync-worker AND TARGET psync-cli)
  add_test(NAME chaos
    COMMAND sh ${PROJECT_SOURCE_DIR}/tests/chaos/chaos.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR})
  set_tests_properties(chaos PROPERTIES TIMEOUT 180 LABELS slow
    ENVIRONMENT "PSYNC_DATA_DIR=${PSYNC_DATA_DIR}")
endif()
