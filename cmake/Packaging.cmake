# Installing Coffre (`cmake --install build/release --prefix /usr`) and its Debian package
# (`cpack --config build/release/CPackConfig.cmake`): the three programs, the systemd units,
# example settings in /etc/coffre (conffiles), the docs. Packaging is tested by
# tests/packaging/deb_install_test.sh; docs/OPERATIONS.md, "Install", is the operator's side.
include(GNUInstallDirs)

install(TARGETS coffre coffre-hub coffre-vault RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES packaging/coffre-hub.service packaging/coffre-vault.service
        DESTINATION lib/systemd/system)
install(FILES packaging/hub.toml packaging/vault.toml DESTINATION /etc/coffre)
file(GLOB COFFRE_DOCS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES README.md ${COFFRE_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME coffre)
set(CPACK_PACKAGE_VENDOR "Coffre")
set(CPACK_PACKAGE_CONTACT "Coffre developers <coffre@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "IoT hub compatible with Azure IoT Hub, sealed under customer-managed keys")
set(CPACK_PACKAGE_DESCRIPTION
    "coffre-hub speaks MQTT, AMQP and HTTPS to the Azure IoT SDKs unchanged, and keeps its data\n\
double-encrypted under a key the customer holds in coffre-vault (or another vault speaking the\n\
Key Vault keys API). coffre is the command-line tool.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # coffre_VERSION_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)    # Depends: from the binaries' libraries (dpkg-shlibdeps)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")  # postinst's groupadd and useradd
set(CPACK_STRIP_FILES ON)
# Conffiles: dpkg keeps an operator's edits across upgrades.
file(WRITE ${PROJECT_BINARY_DIR}/packaging/conffiles "/etc/coffre/hub.toml\n/etc/coffre/vault.toml\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm ${PROJECT_BINARY_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
