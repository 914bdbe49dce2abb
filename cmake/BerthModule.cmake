# berth_library(name SOURCES ... [DEPS ...]): one static library per component, exported as
# berth::<name> so a misspelt dependency fails at configure time. Our own code builds with
# -Wall -Wextra -Werror; generated code does not go through this helper.
function(berth_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(berth_${name} STATIC ${ARG_SOURCES})
  add_library(berth::${name} ALIAS berth_${name})
  target_include_directories(berth_${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(berth_${name} PRIVATE -Wall -Wextra -Werror)
  target_link_libraries(berth_${name} PUBLIC ${ARG_DEPS})
endfunction()

# berth_test(name SOURCES ... DEPS ...): a Catch2 unit-test binary registered with CTest.
function(berth_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE -Wall -Wextra -Werror)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} Catch2::Catch2WithMain)
  catch_discover_tests(${name} TEST_PREFIX "${name}." PROPERTIES TIMEOUT 120)
endfunction()
