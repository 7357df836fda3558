# Whole-cluster training on this host with real processes (psyncd,
# psync-worker, psync status) driven by deploy/local-cluster.sh: accuracy per
# merge policy, hot join at mid-training, failover to a standby psyncd when
# the primary is SIGKILLed, a frozen worker dropped and rejoining. Each test bounds its time and stops every process it started.
if(TARGET psyncd AND TARGET psync-worker AND TARGET psync-cli)
  set(PSYNC_CT ${CMAKE_CURRENT_LIST_DIR})
  # policy:epochs, measured on 2 cores (docs/cluster.md): sync reaches 88%
  # soonest; easgd's centre lags the workers and async's merges are damped
  # by staleness, so they train longer.
  foreach(case sync:12 easgd:20 async:20)
    string(REPLACE ":" ";" pe ${case})
    list(GET pe 0 policy)
    list(GET pe 1 epochs)
    add_test(NAME cluster_train_${policy}
      COMMAND sh ${PSYNC_CT}/cluster_train_test.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR}
        ${policy} ${epochs})
    set_tests_properties(cluster_train_${policy} PROPERTIES TIMEOUT 240 LABELS slow
      ENVIRONMENT "PSYNC_DATA_DIR=${PSYNC_DATA_DIR}")
  endforeach()
  # cluster_train_sync's chunks go through shared memory (its workers are
  # on psyncd's host); the same over ipc:// sockets, and over TCP with every
  # worker declining shared memory (the path between hosts).
  foreach(case shm:ipc frames:frames)
    string(REPLACE ":" ";" nt ${case})
    list(GET nt 0 name)
    list(GET nt 1 transport)
    add_test(NAME cluster_train_${name}
      COMMAND sh ${PSYNC_CT}/cluster_train_test.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR}
        sync 12 ${transport})
    set_tests_properties(cluster_train_${name} PROPERTIES TIMEOUT 240 LABELS slow
      ENVIRONMENT "PSYNC_DATA_DIR=${PSYNC_DATA_DIR}")
  endforeach()
  add_test(NAME cluster_hot_join
    COMMAND sh ${PSYNC_CT}/cluster_join_test.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR})
  set_tests_properties(cluster_hot_join PROPERTIES TIMEOUT 180 LABELS slow
    ENVIRONMENT "PSYNC_DATA_DIR=${PSYNC_DATA_DIR}")
  add_test(NAME cluster_failover
    COMMAND sh ${PSYNC_CT}/cluster_failover_test.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR})
  set_tests_properties(cluster_failover PROPERTIES TIMEOUT 240 LABELS slow
    ENVIRONMENT "PSYNC_DATA_DIR=${PSYNC_DATA_DIR}")
  add_test(NAME cluster_member_drop
    COMMAND sh ${PSYNC_CT}/cluster_drop_test.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR})
  set_tests_properties(cluster_member_drop PROPERTIES TIMEOUT 120
    ENVIRONMENT "PSYNC_DATA_DIR=${PSYNC_DATA_DIR}")
endif()
