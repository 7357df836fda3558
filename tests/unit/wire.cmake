# Wire codec: every message round-trips; hostile headers fail with the
# specific error; docs/protocol.md documents every message and field.
psync_unit_test(wire_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/wire_test.c LIBS psync)
# Shared-memory segments: sealed, opened through /proc with every check.
psync_unit_test(shm_unit_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/shm_unit_test.c LIBS psync)
# psyncd's rule for which peers are on its host (offered shared memory).
if(TARGET psyncd_core)
  psync_unit_test(peer_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/peer_test.c
    LIBS psyncd_core)
endif()
