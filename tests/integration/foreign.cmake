# A client in another language: two workers written in Python from
# docs/protocol.md alone (tests/python/psync_wire.py: pyzmq and msgpack, no
# psync code) upload, bootstrap, merge and get refused against a real
# psyncd, and a C psync-worker hot-joins the version they made.
if(TARGET psyncd AND TARGET psync-worker AND TARGET psync-cli)
  add_test(NAME foreign_client
    COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/python/foreign_client_test.py
      ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR})
  set_tests_properties(foreign_client PROPERTIES TIMEOUT 120 LABELS daemon
    ENVIRONMENT "PSYNC_DATA_DIR=${PSYNC_DATA_DIR}")
endif()
