# What both ARM toolchain files share; they set TERN_CROSS_TRIPLET, TERN_CROSS_ARCH and TERN_CROSS_QEMU first.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${TERN_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${TERN_CROSS_TRIPLET}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${TERN_CROSS_TRIPLET})

# Debian's multiarch layout: headers in usr/include, libraries in usr/lib/<triplet>. The cross compiler's own libc and
# libstdc++ live in /usr/<triplet> and need no help.
set(TERN_SYSROOT ${CMAKE_CURRENT_LIST_DIR}/sysroot-${TERN_CROSS_ARCH})
set(CMAKE_FIND_ROOT_PATH ${TERN_SYSROOT} ${TERN_SYSROOT}/usr /usr/${TERN_CROSS_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# The host's Boost CMake package names host paths; the headers (linked into the sysroot) are all Tern uses.
set(Boost_NO_BOOST_CMAKE ON)

# Test executables (and gtest_discover_tests at build time) run under qemu-user; libc and libstdc++ are loaded from the
# cross compiler's directory, everything else is linked statically.
set(CMAKE_CROSSCOMPILING_EMULATOR ${TERN_CROSS_QEMU} -L /usr/${TERN_CROSS_TRIPLET})
