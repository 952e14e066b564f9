// EAL arguments and initialisation. With no EAL arguments devipd picks a default that works
// on a small machine without hugepages (--no-huge), as the README promises.
#include <rte_eal.h>
#include <rte_errno.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "dataplane/dataplane.h"

namespace devip::dp {

namespace {

bool hugetlbfs_mounted() {
    std::ifstream m("/proc/mounts");
    std::string line;
    while (std::getline(m, line))
        if (line.find(" hugetlbfs ") != std::string::npos) return true;
    return false;
}

bool has(const std::vector<std::string>& v, std::initializer_list<const char*> opts) {
    for (auto& a : v)
        for (const char* o : opts)
            if (a == o || a.rfind(std::string(o) + "=", 0) == 0) return true;
    return false;
}

}  // namespace

std::string own_file_prefix_arg() { return "--file-prefix=devip" + std::to_string(getpid()); }

std::vector<std::string> eal_args(int argc, char** argv, int* consumed) {
    std::vector<std::string> v{argv[0]};
    int i = 1;
    bool dashdash = false;
    for (int j = 1; j < argc; j++)
        if (std::strcmp(argv[j], "--") == 0) dashdash = true;
    if (dashdash) {
        for (; i < argc && std::strcmp(argv[i], "--") != 0; i++) v.emplace_back(argv[i]);
        i++;  // skip "--"
    }
    *consumed = i;
    if (!has(v, {"-l", "-c", "--lcores"})) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        v.push_back("-l");
        v.push_back(n >= 2 ? "0,1" : "0");
    }
    if (!has(v, {"--no-huge", "--huge-dir"}) && !hugetlbfs_mounted()) v.push_back("--no-huge");
    if (has(v, {"--no-huge"}) && !has(v, {"-m", "--socket-mem"})) {
        v.push_back("-m");  // address space; pages are touched only when used
        v.push_back("1024");
    }
    if (!has(v, {"--file-prefix"})) v.push_back(own_file_prefix_arg());
    if (!has(v, {"--log-level"})) v.push_back("--log-level=*:warning");
    return v;
}

proto::Err eal_init(const std::vector<std::string>& args) {
    std::vector<char*> av;
    for (auto& a : args) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    if (rte_eal_init(int(args.size()), av.data()) >= 0) return proto::ok;
    int e = rte_errno;
    if (geteuid() != 0)
        return proto::err_text("EAL init failed: not root (%s)", rte_strerror(e));
    if (e == ENOMEM)
        return proto::err_text("EAL init failed: no memory (try --no-huge -m 512, or reserve "
                               "hugepages)");
    return proto::err_text("EAL init failed: %s", rte_strerror(e));
}

}  // namespace devip::dp
