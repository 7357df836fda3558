# Trainer pieces: the model-file compiler (good files, every error with its
# line) and the dataset loader (real Fashion-MNIST files, corrupt inputs).
foreach(t modelfile data)
  psync_unit_test(${t}_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/${t}_test.c LIBS psync_engine)
endforeach()
