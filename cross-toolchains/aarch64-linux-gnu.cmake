# Raspberry Pi 3/4/5 with a 64-bit OS (Debian's arm64), built with Debian's cross compiler (g++-aarch64-linux-gnu).
#   cmake -S . -B build-cross-aarch64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cross-toolchains/aarch64-linux-gnu.cmake
# The libraries Tern links come from cross-toolchains/sysroot-aarch64 (make-sysroot.sh aarch64).
set(TERN_CROSS_TRIPLET aarch64-linux-gnu)
set(TERN_CROSS_ARCH aarch64)
set(TERN_CROSS_QEMU qemu-aarch64)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
