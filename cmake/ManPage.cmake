# Writes pgpitr.1 and pgpitr.1.gz by running the built binary's hidden `man` command, so the manual
# page says exactly what --help says. Run by cmake/Packaging.cmake at build time:
#   cmake -DPGPITR=build/cli/pgpitr -DOUT=build/pgpitr.1 -P cmake/ManPage.cmake
execute_process(COMMAND "${PGPITR}" man OUTPUT_FILE "${OUT}" RESULT_VARIABLE code ERROR_VARIABLE err)
if(NOT code EQUAL 0)
  message(FATAL_ERROR "'${PGPITR} man' failed (${code}): ${err}")
endif()
# -n: no name or time stamp in the archive, so the same page gives the same bytes.
execute_process(COMMAND gzip -9 -n -c "${OUT}" OUTPUT_FILE "${OUT}.gz" RESULT_VARIABLE code)
if(NOT code EQUAL 0)
  message(FATAL_ERROR "gzip of ${OUT} failed (${code})")
endif()
