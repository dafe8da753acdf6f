# weft-bench's peers, included by bench/CMakeLists.txt when WEFT_BENCH_PEERS is on. Each one
# is compiled only when pkg-config finds its package (not find_package(gRPC): Debian's
# gRPCConfig.cmake fails hard when any of its plugins is missing). Appends what it builds to
# weft_bench_built_peers.

# The event-loop baselines: libevent (already weft::io's dependency), Linux epoll and poll(2).
target_sources(weft-bench PRIVATE peers/loop_echo.cpp peers/libevent_raw.cpp peers/epoll_raw.cpp
                                  peers/poll_raw.cpp peers/weft_io_uring.cpp)
target_compile_definitions(weft-bench PRIVATE WEFT_BENCH_HAVE_LOOPS)
pkg_check_modules(WEFT_BENCH_LIBEVENT REQUIRED IMPORTED_TARGET libevent_core)
target_link_libraries(weft-bench PRIVATE PkgConfig::WEFT_BENCH_LIBEVENT)
list(APPEND weft_bench_built_peers libevent_raw epoll_raw poll_raw weft_io_uring)

# weft_bench_peer(NAME SOURCE DEFINE PREFIX MODULE...): builds the peer NAME from SOURCE when
# pkg-config finds every MODULE (results under PREFIX), with DEFINE set for the registry.
function(weft_bench_peer name source define prefix)
  pkg_check_modules(${prefix} QUIET IMPORTED_TARGET ${ARGN})
  if(${prefix}_FOUND)
    target_sources(weft-bench PRIVATE ${source})
    target_compile_definitions(weft-bench PRIVATE ${define})
    target_link_libraries(weft-bench PRIVATE PkgConfig::${prefix})
    set(weft_bench_built_peers ${weft_bench_built_peers} ${name} PARENT_SCOPE)
  endif()
endfunction()

weft_bench_peer(io_uring_raw peers/io_uring_raw.cpp WEFT_BENCH_HAVE_URING WEFT_URING liburing)
weft_bench_peer(nghttp2 peers/nghttp2_peer.cpp WEFT_BENCH_HAVE_NGHTTP2 WEFT_NGHTTP2 libnghttp2)
weft_bench_peer(zmq peers/zmq_peer.cpp WEFT_BENCH_HAVE_ZMQ WEFT_ZMQ libzmq)

# gRPC C++: the library, protobuf, and the two code generators for bench.proto.
pkg_check_modules(WEFT_GRPC QUIET IMPORTED_TARGET grpc++ protobuf)
find_program(WEFT_PROTOC protoc)
find_program(WEFT_GRPC_CPP_PLUGIN grpc_cpp_plugin)
if(WEFT_GRPC_FOUND AND WEFT_PROTOC AND WEFT_GRPC_CPP_PLUGIN)
  set(proto ${CMAKE_CURRENT_SOURCE_DIR}/peers/bench.proto)
  set(generated ${CMAKE_CURRENT_BINARY_DIR}/peers_generated)
  add_custom_command(
    OUTPUT ${generated}/bench.pb.cc ${generated}/bench.pb.h ${generated}/bench.grpc.pb.cc
           ${generated}/bench.grpc.pb.h
    COMMAND ${CMAKE_COMMAND} -E make_directory ${generated}
    COMMAND ${WEFT_PROTOC} --proto_path=${CMAKE_CURRENT_SOURCE_DIR}/peers --cpp_out=${generated}
            --grpc_out=${generated} --plugin=protoc-gen-grpc=${WEFT_GRPC_CPP_PLUGIN} ${proto}
    DEPENDS ${proto}
    COMMENT "protoc: bench.proto for weft-bench's gRPC peer")
  # The generated code is not ours: built without the project's warnings.
  add_library(weft_bench_grpc_proto STATIC ${generated}/bench.pb.cc ${generated}/bench.grpc.pb.cc)
  target_include_directories(weft_bench_grpc_proto SYSTEM PUBLIC ${generated})
  target_link_libraries(weft_bench_grpc_proto PUBLIC PkgConfig::WEFT_GRPC)
  target_sources(weft-bench PRIVATE peers/grpc_peer.cpp)
  target_compile_definitions(weft-bench PRIVATE WEFT_BENCH_HAVE_GRPC)
  target_link_libraries(weft-bench PRIVATE weft_bench_grpc_proto)
  list(APPEND weft_bench_built_peers grpc)
endif()

# bench.peers_smoke.PEER: each peer on the ping-pong scenario for a moment prints a valid
# line with a rate above zero; a peer this build lacks, or one on io_uring where the kernel
# refuses it (tests/tools/uring_twin.sh), is reported skipped, never passed.
# bench.peers_smoke.weft_io_uring.objects: the same on object_1MiB, the one scenario beyond
# the first four that a peer (weft io_uring) runs.
if(WEFT_BUILD_TESTS)
  set(smoke ${CMAKE_CURRENT_SOURCE_DIR}/peers/smoke_check.sh $<TARGET_FILE:weft-bench>)
  set(on_uring bash ${PROJECT_SOURCE_DIR}/tests/tools/uring_twin.sh)
  foreach(peer libevent_raw epoll_raw poll_raw io_uring_raw nghttp2 zmq grpc weft_io_uring)
    set(prefix "")
    if(peer MATCHES "uring")
      set(prefix ${on_uring})
    endif()
    add_test(NAME bench.peers_smoke.${peer} COMMAND ${prefix} ${smoke} ${peer})
    set_tests_properties(bench.peers_smoke.${peer} PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77)
  endforeach()
  add_test(NAME bench.peers_smoke.weft_io_uring.objects
           COMMAND ${on_uring} ${smoke} weft_io_uring object_1MiB GB/s)
  set_tests_properties(bench.peers_smoke.weft_io_uring.objects
                       PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77)
endif()
