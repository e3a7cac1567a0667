# CMake package file for libcrm. One line in a project finds it:
#
#   find_package(crm REQUIRED)                      # installed: <prefix>/lib/cmake/crm/
#   target_link_libraries(my_app PRIVATE crm::crm)
#
# It also works from a source checkout, without installing (after `cargo build -p crm-ffi`):
#
#   find_package(crm REQUIRED PATHS /path/to/crm/crm-ffi/cmake NO_DEFAULT_PATH)
#
# Variables: CRM_PROFILE (checkout only: debug or release, default release if built, else
# debug); CRM_STATIC=ON to link libcrm.a instead of the shared library. libcrm bundles its own
# SQLite; a program that also links another SQLite must use the shared library.
# Defines the imported target crm::crm and CRM_INCLUDE_DIR, CRM_LIBRARY, crm_FOUND.

get_filename_component(_crm_here "${CMAKE_CURRENT_LIST_FILE}" DIRECTORY)
if(EXISTS "${_crm_here}/../../../include/crm.h")
  # Installed layout: <prefix>/lib/cmake/crm/crmConfig.cmake
  get_filename_component(_crm_prefix "${_crm_here}/../../.." ABSOLUTE)
  set(CRM_INCLUDE_DIR "${_crm_prefix}/include")
  set(_crm_libdir "${_crm_prefix}/lib")
elseif(EXISTS "${_crm_here}/../../include/crm.h")
  # Source checkout: crm-ffi/cmake/crmConfig.cmake
  get_filename_component(_crm_root "${_crm_here}/../.." ABSOLUTE)
  set(CRM_INCLUDE_DIR "${_crm_root}/include")
  if(NOT CRM_PROFILE)
    if(EXISTS "${_crm_root}/target/release/libcrm.so" OR EXISTS "${_crm_root}/target/release/libcrm.a")
      set(CRM_PROFILE release)
    else()
      set(CRM_PROFILE debug)
    endif()
  endif()
  set(_crm_libdir "${_crm_root}/target/${CRM_PROFILE}")
else()
  set(crm_FOUND FALSE)
  set(crm_NOT_FOUND_MESSAGE "crm.h not found next to ${_crm_here}")
  return()
endif()

if(CRM_STATIC)
  set(CRM_LIBRARY "${_crm_libdir}/libcrm.a")
  set(_crm_type STATIC)
else()
  set(CRM_LIBRARY "${_crm_libdir}/libcrm${CMAKE_SHARED_LIBRARY_SUFFIX}")
  set(_crm_type SHARED)
endif()
if(NOT EXISTS "${CRM_LIBRARY}")
  set(crm_FOUND FALSE)
  set(crm_NOT_FOUND_MESSAGE "${CRM_LIBRARY} not found (build it with: cargo build -p crm-ffi)")
  return()
endif()

if(NOT TARGET crm::crm)
  add_library(crm::crm ${_crm_type} IMPORTED)
  set_target_properties(crm::crm PROPERTIES
    IMPORTED_LOCATION "${CRM_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CRM_INCLUDE_DIR}")
  if(CRM_STATIC)
    set_property(TARGET crm::crm PROPERTY INTERFACE_LINK_LIBRARIES pthread dl m)
  else()
    # The library has no SONAME: record its path so the program finds it at run time.
    set_property(TARGET crm::crm PROPERTY IMPORTED_NO_SONAME TRUE)
  endif()
endif()
set(crm_FOUND TRUE)
