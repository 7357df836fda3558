# psync-worker end to end: accuracy of the reference MLP, exact resume of a
# frozen model in a new process (per optimizer, through a pipe, an inherited
# fd and a Unix socket), and psync predict against a PyTorch rebuild.
set(PSYNC_MODELS ${PROJECT_SOURCE_DIR}/deploy/models)
set(PSYNC_ITEST ${CMAKE_CURRENT_LIST_DIR})

add_test(NAME trainer_mlp_accuracy
  COMMAND sh ${PSYNC_ITEST}/mlp_accuracy_test.sh $<TARGET_FILE:psync-worker>
    ${PSYNC_MODELS}/mlp.psync)
set_tests_properties(trainer_mlp_accuracy PROPERTIES TIMEOUT 180 LABELS slow
  ENVIRONMENT "PSYNC_DATA_DIR=${PSYNC_DATA_DIR}")

# name  model  optimizer  k  m  via
set(PSYNC_RESUME_CASES
  "sgd mlp.psync sgd 7 5 pipe"
  "momentum mlp.psync momentum 6 6 fd"
  "adam_dropout cnn.psync adam 8 5 unix"
  "nesterov_dropout cnn.psync nesterov 5 5 pipe")
foreach(c ${PSYNC_RESUME_CASES})
  separate_arguments(a UNIX_COMMAND "${c}")
  list(GET a 0 name)
  list(GET a 1 model)
  list(SUBLIST a 2 4 rest)
  add_test(NAME trainer_resume_${name}
    COMMAND sh ${PSYNC_ITEST}/resume_test.sh $<TARGET_FILE:psync-worker>
      ${PSYNC_MODELS}/${model} ${rest})
  set_tests_properties(trainer_resume_${name} PROPERTIES TIMEOUT 60
    ENVIRONMENT "PSYNC_DATA_DIR=${PSYNC_DATA_DIR}")
endforeach()

add_test(NAME trainer_predict_torch
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/python/predict_test.py
    $<TARGET_FILE:psync-worker> $<TARGET_FILE:psync-cli> ${PSYNC_MODELS}/mlp.psync)
set_tests_properties(trainer_predict_torch PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77
  ENVIRONMENT "PSYNC_DATA_DIR=${PSYNC_DATA_DIR}")

