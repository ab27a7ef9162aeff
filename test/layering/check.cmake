# check.cmake -- the build enforces the layering: a module's sources see its
# own headers and those of the modules below it, never those above.
#
#   cmake -DCXX=... -DINCLUDES="dir;dir" -DMODULE=image -DALLOWED="util;image"
#         -DFORBIDDEN="runtime;cli" -DSRC=<source root> -DWORK=<dir> -P check.cmake
#
# Every header of the module itself must compile alone with the module's
# include folders (so they are right, and each header is self-contained);
# every header of a forbidden module must fail to, for want of the header.
# A header of a lower module is compiled by that module's own check.
# Fails naming the header.
cmake_minimum_required(VERSION 3.25)
file(MAKE_DIRECTORY ${WORK})
set(flags -std=c++20 -fsyntax-only)
foreach(dir ${INCLUDES})
  list(APPEND flags -I${dir})
endforeach()
set(checked 0)
foreach(mod ${MODULE} ${FORBIDDEN})
  file(GLOB headers RELATIVE ${SRC} ${SRC}/${mod}/*.hpp)
  foreach(h ${headers})
    string(MAKE_C_IDENTIFIER ${h} id)
    set(tu ${WORK}/${MODULE}_includes_${id}.cpp)
    file(WRITE ${tu} "#include \"${h}\"\n")
    execute_process(COMMAND ${CXX} ${flags} ${tu} RESULT_VARIABLE rc ERROR_VARIABLE err
                    OUTPUT_QUIET)
    if(mod STREQUAL MODULE)
      if(NOT rc EQUAL 0)
        message(FATAL_ERROR "module ${MODULE}: including ${h}, which it may use, fails:\n${err}")
      endif()
    elseif(rc EQUAL 0)
      message(FATAL_ERROR "module ${MODULE} can include ${h}: a layer above it")
    elseif(NOT err MATCHES "${h}: No such file or directory")
      message(FATAL_ERROR "module ${MODULE}: including ${h} fails, but not for want of the "
                          "header:\n${err}")
    endif()
    math(EXPR checked "${checked} + 1")
  endforeach()
endforeach()
message(STATUS "module ${MODULE}: ${checked} headers checked; sees ${ALLOWED}, not ${FORBIDDEN}")
