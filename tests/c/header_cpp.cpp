// header_cpp.cpp -- crm.h used from C++: included twice (and beside crm_plugin.h), compiled with
// -Wall -Wextra -Werror -pedantic, linked and called through its extern "C" declarations.
#include "crm.h"
#include "crm.h"
#include "crm_plugin.h"

#include <cstdio>
#include <cstring>

int main() {
    const unsigned abi = crm_abi_version();
    if ((abi >> 16) != CRM_ABI_VERSION_MAJOR) return 1;
    crm_db *db = nullptr;
    crm_status st = crm_db_open(nullptr, nullptr, &db);
    if (st != CRM_STATUS_NULL_ARGUMENT || db != nullptr) return 1;
    if (std::strstr(crm_last_error_message(), "path") == nullptr) return 1;
    crm_plugins *plugins = nullptr;
    st = crm_plugins_open(nullptr, nullptr, &plugins);
    if (st != CRM_STATUS_NULL_ARGUMENT || plugins != nullptr) return 1;
    if (sizeof(crm_plugin_host) == 0) return 1;
    std::printf("C++: %s, status %s\n", crm_version(), crm_status_name(st));
    return 0;
}
