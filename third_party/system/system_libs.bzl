"""One repository for every system library the project links against.

The libraries are Debian packages installed by scripts/bootstrap.sh; their
headers live in the compiler's default include path, so each target only
carries link flags. DPDK's flags come from `pkg-config libdpdk` at fetch time
and are also exported as DPDK_COPTS (in @system//:defs.bzl) for the one
component that includes DPDK headers.
"""

# name -> (link flags, a header that proves the package is installed)
_LIBS = {
    "boost": ([], "boost/lockfree/spsc_queue.hpp"),
    "boost_fiber": (["-lboost_fiber", "-lboost_context"], "boost/fiber/all.hpp"),
    "hwloc": (["-lhwloc"], "hwloc.h"),
    "gtest": (["-lgtest", "-lpthread"], "gtest/gtest.h"),
    "gtest_main": (["-lgtest_main", "-lgtest", "-lpthread"], "gtest/gtest.h"),
    "gmock": (["-lgmock", "-lgtest", "-lpthread"], "gmock/gmock.h"),
    "benchmark": (["-lbenchmark", "-lpthread"], "benchmark/benchmark.h"),
    "benchmark_main": (["-lbenchmark_main", "-lbenchmark", "-lpthread"], "benchmark/benchmark.h"),
    "cli11": ([], "CLI/CLI.hpp"),
    "fmt": (["-lfmt"], "fmt/format.h"),
    "json": ([], "nlohmann/json.hpp"),
    "pcap": (["-lpcap"], "pcap/pcap.h"),
    "tomlplusplus": ([], "toml++/toml.h"),
    "urcu_qsbr": (["-lurcu-qsbr"], "urcu/urcu-qsbr.h"),
}

_HINT = "run scripts/bootstrap.sh to install the project's Debian packages"

def _check_header(ctx, name, header):
    for base in ["/usr/include/", "/usr/include/x86_64-linux-gnu/"]:
        if ctx.path(base + header).exists:
            return
    fail("system library '%s': header <%s> not found; %s" % (name, header, _HINT))

def _pkg_config(ctx, args):
    res = ctx.execute(["pkg-config"] + args)
    if res.return_code != 0:
        fail("pkg-config %s failed: %s; %s" % (" ".join(args), res.stderr, _HINT))
    return res.stdout.strip().split(" ")

def _system_libs_impl(ctx):
    out = ['package(default_visibility = ["//visibility:public"])', ""]
    for name, (linkopts, header) in _LIBS.items():
        _check_header(ctx, name, header)
        out.append("cc_library(name = %r, linkopts = %r)" % (name, linkopts))

    dpdk_cflags = [f for f in _pkg_config(ctx, ["--cflags", "libdpdk"]) if f]
    dpdk_libs = [f for f in _pkg_config(ctx, ["--libs", "libdpdk"]) if f]

    # --as-needed would drop the PMD libraries that are only reached through
    # constructors; the drivers are loaded by EAL's plugin path instead.
    dpdk_libs = [f for f in dpdk_libs if f != "-Wl,--as-needed"]
    out.append("cc_library(name = \"dpdk\", linkopts = %r)" % dpdk_libs)

    # cpp-httplib: Debian builds it as a library (libcpp-httplib.so) with
    # TLS/zlib/brotli support, and those switches change its classes'
    # layout, so every includer needs the same -D flags: carried as
    # `defines` from pkg-config.
    _check_header(ctx, "httplib", "httplib.h")
    httplib_cflags = [f for f in _pkg_config(ctx, ["--cflags", "cpp-httplib"]) if f]
    httplib_defines = [f[2:] for f in httplib_cflags if f.startswith("-D")]
    httplib_libs = [f for f in _pkg_config(ctx, ["--libs", "cpp-httplib"]) if f]
    out.append("cc_library(name = \"httplib\", defines = %r, linkopts = %r)" %
               (httplib_defines, httplib_libs + ["-lpthread"]))
    ctx.file("BUILD", "\n".join(out) + "\n")

    # -include and -march from pkg-config cannot travel through cc_library;
    # components that include DPDK headers add DPDK_COPTS themselves.
    ctx.file("defs.bzl", "DPDK_COPTS = %r\n" % dpdk_cflags)

system_libs = repository_rule(
    implementation = _system_libs_impl,
    local = True,
    environ = ["PKG_CONFIG_PATH"],
)
