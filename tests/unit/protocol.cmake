# Protocol core: tensors, graph, model arena, blob codec and its hostile
# inputs. blob_test also has Python's msgpack read a blob it writes.
set(PSYNC_TESTMODEL ${CMAKE_CURRENT_LIST_DIR}/testmodel.c)
foreach(t tensor graph model blob)
  psync_unit_test(${t}_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/${t}_test.c ${PSYNC_TESTMODEL}
    LIBS psync)
  target_include_directories(${t}_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
endforeach()
# blob_hostile_test wraps the allocator to bound what decoding may allocate.
psync_unit_test(blob_hostile_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/blob_hostile_test.c
  ${PSYNC_TESTMODEL} LIBS psync)
target_include_directories(blob_hostile_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_options(blob_hostile_test PRIVATE
  -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=posix_memalign)
