# Install rules. Destinations are relative to the `ember/` package folder of the wheel.
include(CMakePackageConfigHelpers)

install(TARGETS ember_runtime ember_cpu_blas ember_cpu_dnnl LIBRARY DESTINATION lib)
install(FILES runtime_cpp/include/ember/runtime.h runtime_cpp/include/ember/c_api.h
              runtime_cpp/include/ember/export.h
        DESTINATION include/ember)
if(EMBER_BUILD_PYTHON)
  install(TARGETS _runtime LIBRARY DESTINATION .)
endif()

install(DIRECTORY targets/ DESTINATION targets FILES_MATCHING PATTERN "*.toml")
# `ember run --emulate` cross-builds the runtime and the example runner for aarch64 from these.
install(DIRECTORY runtime_cpp/src runtime_cpp/include DESTINATION src/runtime_cpp)
install(FILES examples/cpp/main.cc examples/cpp/npy.h DESTINATION src/examples/cpp)
install(DIRECTORY tuning_logs/ DESTINATION tuning_logs
        PATTERN "__pycache__" EXCLUDE
        PATTERN ".cache" EXCLUDE
        PATTERN "cache" EXCLUDE
        PATTERN "*.tmp" EXCLUDE)

# find_package(ember CONFIG) for C++ services: the config locates everything relative to itself.
configure_file(cmake/emberConfig.cmake.in "${CMAKE_CURRENT_BINARY_DIR}/emberConfig.cmake" @ONLY)
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/emberConfigVersion.cmake"
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/emberConfig.cmake"
              "${CMAKE_CURRENT_BINARY_DIR}/emberConfigVersion.cmake"
        DESTINATION lib/cmake/ember)
