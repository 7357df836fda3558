# Whole-cluster tests: a real psyncd process and clients of libpsync_client
# (plus raw sockets for hostile messages) in the test. cluster_test runs
# over 127.0.0.1 TCP; shm_test over ipc://, where same-host members use
# shared memory; boot_shm_test, a client bootstrapping through shared
# memory from a fake psyncd that bends the headers.
if(TARGET psyncd AND TARGET psync_client)
  psync_kit_test(cluster_test)
  psync_kit_test(shm_test)
  psync_kit_test(boot_shm_test)
endif()
