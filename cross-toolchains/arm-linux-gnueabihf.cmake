# 32-bit ARMv7 hard-float (Raspberry Pi 2/3/4 with a 32-bit OS, Debian's armhf), built with Debian's cross compiler
# (g++-arm-linux-gnueabihf).
#   cmake -S . -B build-cross-armhf -G Ninja -DCMAKE_TOOLCHAIN_FILE=cross-toolchains/arm-linux-gnueabihf.cmake
# The libraries Tern links come from cross-toolchains/sysroot-armhf (make-sysroot.sh armhf).
set(TERN_CROSS_TRIPLET arm-linux-gnueabihf)
set(TERN_CROSS_ARCH armhf)
set(TERN_CROSS_QEMU qemu-arm)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
# GCC's ARM32 note that parameter passing of some iterators changed in GCC 7.1 concerns mixing objects from GCC < 7;
# everything here is built by one compiler, and the notes would bury real warnings in the log.
set(CMAKE_CXX_FLAGS_INIT "-Wno-psabi")
