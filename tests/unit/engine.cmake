# Engine tests: finite-difference gradient checks of every op, and one
# training step per optimizer compared against PyTorch (skipped, exit 77,
# when torch is not importable).
add_library(psync_engine_testnet STATIC ${CMAKE_CURRENT_LIST_DIR}/engine_testnet.c)
target_link_libraries(psync_engine_testnet PUBLIC psync_engine)
target_include_directories(psync_engine_testnet PUBLIC ${CMAKE_CURRENT_LIST_DIR})

psync_unit_test(gradcheck_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/gradcheck_test.c
  LIBS psync_engine_testnet)

add_executable(torch_step ${CMAKE_CURRENT_LIST_DIR}/torch_step.c)
target_link_libraries(torch_step PRIVATE psync_engine_testnet)
add_test(NAME torch_step_test
  COMMAND sh -c "rm -rf \"$1\" && mkdir -p \"$1\" && \"$2\" \"$1\" && /usr/bin/python3 \"$3\" \"$1\""
    sh ${CMAKE_CURRENT_BINARY_DIR}/torch_step_out $<TARGET_FILE:torch_step>
    ${PROJECT_SOURCE_DIR}/tests/python/torch_step_test.py)
set_tests_properties(torch_step_test PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
