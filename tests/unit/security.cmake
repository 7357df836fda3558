# Security unit tests: key files and allow-lists; CURVE + ZAP over real
# ZeroMQ sockets on tcp://127.0.0.1 (ephemeral ports).
psync_unit_test(keys_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/keys_test.c LIBS psync)
psync_unit_test(security_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/security_test.c LIBS psync)
if(TARGET psync-cli)
  add_test(NAME keygen_cli_test
    COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/keygen_cli_test.sh $<TARGET_FILE:psync-cli>)
  set_tests_properties(keygen_cli_test PROPERTIES TIMEOUT 60)
endif()
# deploy/psyncd.conf lists every psyncd setting at its default value.
if(TARGET psyncd)
  add_test(NAME conf_example_test
    COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/conf_example_test.sh $<TARGET_FILE:psyncd>
      ${PROJECT_SOURCE_DIR}/deploy/psyncd.conf)
  set_tests_properties(conf_example_test PROPERTIES TIMEOUT 30)
endif()
