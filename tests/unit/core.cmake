# Unit tests of the shared base: errors, logging, settings.
psync_unit_test(config_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/config_test.c LIBS psync)
psync_unit_test(log_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/log_test.c LIBS psync)
psync_unit_test(freeze_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/freeze_test.c
  ${CMAKE_CURRENT_LIST_DIR}/testmodel.c LIBS psync)
psync_unit_test(mpread_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/mpread_test.c LIBS psync)
