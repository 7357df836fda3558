# Whole-cluster tests: a real psyncd process and clients of libpsync_client
# (plus raw sockets for hostile messages) in the test. cluster_test runs
# over 127.0.0.1 TCP; shm_test over ipc://, where same-host members use
# shared memory.
if(TARGET psyncd AND TARGET psync_client)
  psync_kit_test(cluster_test)
  psync_kit_test(shm_test)
endif()
