# Installs the weft build in WEFT_BUILD_DIR into SCRATCH_DIR/prefix, then configures, builds
# and runs the consumer project against it. Fails on any step.
foreach(var WEFT_BUILD_DIR CONSUMER_SOURCE_DIR SCRATCH_DIR CMAKE_GENERATOR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "${var} is not set")
  endif()
endforeach()

function(run_step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "step failed (${status}): ${ARGN}\n${out}")
  endif()
  message(STATUS "${out}")
endfunction()

file(REMOVE_RECURSE ${SCRATCH_DIR})
set(prefix ${SCRATCH_DIR}/prefix)
run_step(${CMAKE_COMMAND} --install ${WEFT_BUILD_DIR} --prefix ${prefix})
if(NOT EXISTS ${prefix}/include/weft/wire.hpp)
  message(FATAL_ERROR "installed tree lacks include/weft/wire.hpp")
endif()
run_step(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${SCRATCH_DIR}/build -G ${CMAKE_GENERATOR}
  -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CONSUMER_CXX_COMPILER}
  "-DCMAKE_CXX_FLAGS=${CONSUMER_CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${CONSUMER_CXX_FLAGS}")
run_step(${CMAKE_COMMAND} --build ${SCRATCH_DIR}/build)
run_step(${SCRATCH_DIR}/build/weft_consumer)
