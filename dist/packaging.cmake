# Installation and the Debian package (included by the top CMakeLists.txt).
#
#   scripts/package.sh            builds gateway and the .deb (CPack) into build-pkg/
#   cpack --config BUILD/CPackConfig.cmake -B OUT    the same from a built tree
#
# The package lays the service out as Debian's nginx does: the binary in
# /usr/sbin (a daemon run by the system, not by users), the unit in
# /lib/systemd/system, the configuration in /etc/gateway (a conffile, as is
# the logrotate file), the manual page gateway(8), and the full example
# configuration under /usr/share/doc/gateway. Depends is computed by
# dpkg-shlibdeps (dpkg-dev) from the binary's libraries.
include(GNUInstallDirs)

# `install` (hence cpack) installs what is built and builds nothing: the
# package needs only gateway, gateway-lab and the manual page (scripts/package.sh
# builds those), not the tests a full tree would build first.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

set(GATEWAY_SYSCONF_DIR /etc CACHE PATH "Where the package puts gateway/gateway.yaml and logrotate.d/")
set(GATEWAY_UNIT_DIR /lib/systemd/system CACHE PATH "Where the package puts gateway.service")

install(TARGETS gateway RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS gateway-lab RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})  # the hit-rate lab, run by users
install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/dist/gateway.service DESTINATION ${GATEWAY_UNIT_DIR})
install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/dist/gateway.yaml DESTINATION ${GATEWAY_SYSCONF_DIR}/gateway)
install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/dist/gateway.logrotate DESTINATION ${GATEWAY_SYSCONF_DIR}/logrotate.d
        RENAME gateway)
install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/conf/gateway.yaml DESTINATION ${CMAKE_INSTALL_DOCDIR}
        RENAME gateway.yaml.example)
install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

# Debian installs manual pages compressed (gzip -n: the same bytes each build).
find_program(GATEWAY_GZIP gzip REQUIRED)
set(GATEWAY_MAN_GZ ${CMAKE_CURRENT_BINARY_DIR}/gateway.8.gz)
add_custom_command(OUTPUT ${GATEWAY_MAN_GZ}
  COMMAND ${GATEWAY_GZIP} -9n -c ${CMAKE_CURRENT_SOURCE_DIR}/dist/gateway.8 > ${GATEWAY_MAN_GZ}
  DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/dist/gateway.8 VERBATIM)
add_custom_target(gateway_man ALL DEPENDS ${GATEWAY_MAN_GZ})
install(FILES ${GATEWAY_MAN_GZ} DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)

# The files dpkg keeps a user's changes to across upgrades.
set(GATEWAY_CONFFILES ${CMAKE_CURRENT_BINARY_DIR}/conffiles)
file(WRITE ${GATEWAY_CONFFILES}
  "${GATEWAY_SYSCONF_DIR}/gateway/gateway.yaml\n${GATEWAY_SYSCONF_DIR}/logrotate.d/gateway\n")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME gateway)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "gateway maintainers <gateway@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "caching reverse proxy and aggregation gateway")
set(CPACK_PACKAGE_DESCRIPTION
    "HTTP/1.1 and HTTP/2 reverse proxy with an RFC 9111 cache on disk, in memory and in a shared Redis tier, page composition and aggregation; runs as the systemd service gateway.service.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION httpd)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "logrotate")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${GATEWAY_CONFFILES})
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Debug info stays in the build tree; the package gets a stripped binary.
set(CPACK_STRIP_FILES ON)
include(CPack)
