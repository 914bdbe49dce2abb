# Debian packages, built by CPack from this build tree (`cpack -G DEB` in the build directory, or
# the `package` target):
#   berth_<version>-<release>_<arch>.deb      the `berth` install component (deploy/CMakeLists.txt)
#   berth-sim_<version>-<release>_<arch>.deb  the `berth-sim` component
# (<version>-<release> is the Debian version: the project's, then the packaging revision),
# installed under /usr whatever prefix the build was configured with (deploy/install_system.cmake.in
# puts the configuration in /etc/berth), stripped, with dependencies from dpkg-shlibdeps and the
# maintainer scripts and lintian overrides of deploy/debian/. SOURCE_DATE_EPOCH, when set, dates
# the changelog.
set(BERTH_PACKAGE_MAINTAINER "Berth maintainers <berth-maintainers@example.org>"
    CACHE STRING "Maintainer field of the Debian packages")
set(BERTH_PACKAGE_RELEASE 1 CACHE STRING "Debian revision of the packages (<version>-<release>)")

set(debian_dir ${PROJECT_SOURCE_DIR}/deploy/debian)
set(debian_gen ${CMAKE_BINARY_DIR}/debian)

# Per package: its documentation directory (copyright, changelog) and lintian overrides, and the
# berth package's control files, prepared here for CPack to pick up. The documentation files are
# for the packages only (EXCLUDE_FROM_ALL: CPack installs them, `cmake --install` does not).
string(TIMESTAMP changelog_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
foreach(package berth berth-sim)
  install(FILES ${debian_dir}/copyright DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${package}
          COMPONENT ${package} EXCLUDE_FROM_ALL)
  set(changelog ${debian_gen}/${package}/changelog.Debian)
  file(WRITE ${changelog}
       "${package} (${PROJECT_VERSION}-${BERTH_PACKAGE_RELEASE}) unstable; urgency=medium\n\n"
       "  * Built from the Berth source tree by CPack.\n\n"
       " -- ${BERTH_PACKAGE_MAINTAINER}  ${changelog_date}\n")
  add_custom_command(
    OUTPUT ${changelog}.gz
    COMMAND gzip -9nkf ${changelog}
    DEPENDS ${changelog}
    VERBATIM)
  list(APPEND debian_docs ${changelog}.gz)
  install(FILES ${changelog}.gz DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${package}
          COMPONENT ${package} EXCLUDE_FROM_ALL)
  install(FILES ${debian_dir}/${package}.lintian-overrides
          DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides RENAME ${package}
          COMPONENT ${package} EXCLUDE_FROM_ALL)
endforeach()
add_custom_target(berth_debian_docs ALL DEPENDS ${debian_docs})
# CPack copies the control files with their modes: maintainer scripts 0755, conffiles 0644.
foreach(script postinst prerm postrm)
  file(COPY ${debian_dir}/${script} DESTINATION ${debian_gen}/control
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()
file(COPY ${debian_dir}/conffiles DESTINATION ${debian_gen}/control
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME berth)
set(CPACK_PACKAGE_VENDOR "Berth")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT ${BERTH_PACKAGE_MAINTAINER})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL berth berth-sim)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${BERTH_PACKAGE_RELEASE})
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)

set(CPACK_DEBIAN_BERTH_PACKAGE_NAME berth)
# systemd-sysusers creates the berth user in postinst (what dh_installsysusers depends on).
set(CPACK_DEBIAN_BERTH_PACKAGE_DEPENDS "systemd | systemd-standalone-sysusers")
set(CPACK_DEBIAN_BERTH_PACKAGE_CONTROL_EXTRA
    ${debian_gen}/control/conffiles ${debian_gen}/control/postinst
    ${debian_gen}/control/prerm ${debian_gen}/control/postrm)
set(CPACK_DEBIAN_BERTH_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# The first line is the synopsis; lintian wants the others at most 80 columns.
set(CPACK_COMPONENT_BERTH_DESCRIPTION
    "executors for Apache Spark drivers on Kubernetes, Nomad, Mesos or this host
berthd is a daemon that Spark drivers call over gRPC to get executors. It
keeps one executor-lifecycle model (targets per resource profile, kills,
decommissioning, leases, an event stream) and launches the executors as
Kubernetes pods, Nomad jobs, Mesos tasks or local processes. This package
holds berthd, its command-line client berthctl, the supervisor of local
executors, a hardened systemd unit (not enabled on installation) and the
commented default configuration, /etc/berth/berthd.yaml.")

set(CPACK_DEBIAN_BERTH-SIM_PACKAGE_NAME berth-sim)
set(CPACK_DEBIAN_BERTH-SIM_PACKAGE_SECTION devel)
set(CPACK_COMPONENT_BERTH-SIM_DESCRIPTION
    "simulators of the Kubernetes, Nomad and Mesos APIs for Berth
berth-sim serves protocol-faithful simulations of the Kubernetes API server
(pods), the Nomad HTTP API and the Mesos v1 scheduler API on loopback, with
simulated nodes, scripted executors and fault injection, to try Berth or to
test against it without a cluster.")

include(CPack)
