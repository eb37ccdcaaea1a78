# Installation and the Debian package: `cmake --install build` or, from a build dir,
# `cpack -G DEB` -> pgpitr_<project version>_<arch>.deb with /usr/bin/pgpitr, the pgpitr@.service
# template unit, the man page (generated from --help at build time) and example configurations.
# Included by the root CMakeLists.txt after cli/, which defines the pgpitr target.
include(GNUInstallDirs)

# The man page, from the binary's hidden `pgpitr man`, rebuilt whenever the binary is.
set(PGPITR_MAN_PAGE ${PROJECT_BINARY_DIR}/pgpitr.1)
add_custom_command(
  OUTPUT ${PGPITR_MAN_PAGE} ${PGPITR_MAN_PAGE}.gz
  COMMAND ${CMAKE_COMMAND} -DPGPITR=$<TARGET_FILE:pgpitr> -DOUT=${PGPITR_MAN_PAGE} -P
          ${PROJECT_SOURCE_DIR}/cmake/ManPage.cmake
  DEPENDS pgpitr ${PROJECT_SOURCE_DIR}/cmake/ManPage.cmake
  COMMENT "Generating the pgpitr(1) man page from --help"
  VERBATIM)
add_custom_target(pgpitr_man ALL DEPENDS ${PGPITR_MAN_PAGE}.gz)

install(TARGETS pgpitr RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PGPITR_MAN_PAGE}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
# Debian 12 keeps packaged units in /lib/systemd/system (the same folder as /usr/lib/... after usrmerge).
install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/pgpitr@.service DESTINATION /lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/app.toml.example DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        RENAME app.toml)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/pgpitr.toml DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pgpitr)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "pgpitr developers <pgpitr@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "point-in-time restore for any PostgreSQL reachable by a connection string")
# The summary above is its first line; CPack indents these.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "pgpitr runs next to a database, captures every committed transaction through logical
replication (pgoutput) into a local repository on top of consistent pg_dump bases, and
restores into a new database as of any second, LSN or named mark inside its window.
One systemd instance per database: pgpitr@NAME.service reads /etc/pgpitr/NAME.toml.")
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # pgpitr_0.1.0_amd64.deb
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES TRUE)
# Libraries from dpkg-shlibdeps; pg_dump/pg_restore of PostgreSQL 15 or newer (bases are dumped by
# the newest installed client); useradd/groupadd for the postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "postgresql-client-15 | postgresql-client (>= 15), passwd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
                                       ${PROJECT_SOURCE_DIR}/deploy/debian/prerm
                                       ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
