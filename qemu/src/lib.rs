//! QEMU harness for the gitfs unikernel.
