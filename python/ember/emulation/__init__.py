"""Run aarch64 artifacts on an x86 machine under qemu-aarch64 (`ember run --emulate`).

`aarch64_runtime` prepares an aarch64 build of Ember's runtime and runner (downloaded TVM
libraries, cross-compiled sources, cached); `qemu` runs an artifact with it. Nothing here
imports TVM.
"""
