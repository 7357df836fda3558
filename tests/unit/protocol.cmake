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

# `psync inspect` on the committed seed blobs: verify, JSON that parses, and
# a clean failure on a corrupt blob.
if(TARGET psync-cli)
  set(PSYNC_SEEDS ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/blob)
  add_test(NAME inspect_verify COMMAND psync-cli inspect --verify ${PSYNC_SEEDS}/valid-mlp.psync)
  add_test(NAME inspect_json COMMAND sh -c "$<TARGET_FILE:psync-cli> inspect --json - < \
${PSYNC_SEEDS}/valid-mlp.psync | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); \
assert d[\"tensors\"][0][\"name\"] == \"fc1.w\" and d[\"optimizer\"][\"kind\"] == \"adam\", d'")
  add_test(NAME inspect_rejects_corrupt COMMAND psync-cli inspect
    ${PSYNC_SEEDS}/layout-hash-mismatch.psync)
  set_tests_properties(inspect_rejects_corrupt PROPERTIES WILL_FAIL TRUE)
endif()
