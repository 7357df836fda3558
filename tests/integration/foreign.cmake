# A client in another language: two workers written in Python from
# docs/protocol.md alone (tests/python/psync_wire.py: pyzmq and msgpack, no
# psync code) upload, bootstrap, merge and get refused against a real
# psyncd, and a C psync-worker hot-joins the version they made. Label
# interop, not daemon: it runs in the release and ASan stages but not under
# TSan, where every word psyncd reads from a frame libzmq (not built with
# TSan) wrote is a suppressed race: matching them for this 2.8 MB model
# took psyncd 10-19 s per upload under TSan (the kit tests use small ones).
if(TARGET psyncd AND TARGET psync-worker AND TARGET psync-cli)
  add_test(NAME foreign_client
    COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/python/foreign_client_test.py
      ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR})
  set_tests_properties(foreign_client PROPERTIES TIMEOUT 120 LABELS interop
    ENVIRONMENT "PSYNC_DATA_DIR=${PSYNC_DATA_DIR}")
endif()
