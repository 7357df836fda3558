# Recovery from peer memory (docs/recovery.md): a restarted psyncd restores
# the newest merged version its workers hold, with fencing (recovery_test);
# the chaos harness kills workers and the daemon at random while a cluster
# trains (tests/chaos/chaos.sh, label slow).
# recovery_test, standby_test (a hot standby psyncd: its own copy of the
# merged model, failover of workers given both addresses, split-brain
# fencing), standby_hostile_test (a fake primary feeding a standby bad
# chunks): real daemons + client library.
if(TARGET psyncd AND TARGET psync_client)
  foreach(t recovery_test standby_test standby_hostile_test)
    psync_kit_test(${t})
  endforeach()
endif()
if(TARGET psyncd AND TARGET psync-worker AND TARGET psync-cli)
  add_test(NAME chaos
    COMMAND sh ${PROJECT_SOURCE_DIR}/tests/chaos/chaos.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR})
  set_tests_properties(chaos PROPERTIES TIMEOUT 180 LABELS slow
    ENVIRONMENT "PSYNC_DATA_DIR=${PSYNC_DATA_DIR}")
endif()
# Daemon and workers in separate network namespaces (link-local
# 169.254.N.0/24), 20 ms +- 5 ms delay and 1% loss per direction: tc netem on
# veth pairs where the kernel has sch_netem, else netem_wire (tests/netns) on
# two workers' links and a plain veth on the third; a partition of one worker
# that heals; skipped (77) without root or iproute2.
if(TARGET psyncd AND TARGET psync-worker AND TARGET psync-cli)
  set(PSYNC_NETEM_WIRE "")
  if(TARGET netem_wire)
    set(PSYNC_NETEM_WIRE $<TARGET_FILE:netem_wire>)
  endif()
  add_test(NAME netns_partition
    COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/netns_test.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR}
      ${PSYNC_NETEM_WIRE})
  set_tests_properties(netns_partition PROPERTIES TIMEOUT 90 SKIP_RETURN_CODE 77
    ENVIRONMENT "PSYNC_DATA_DIR=${PSYNC_DATA_DIR}")
endif()
