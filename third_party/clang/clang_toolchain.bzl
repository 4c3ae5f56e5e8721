"""A second autodetected C++ toolchain, on clang, beside Bazel's gcc one.

Why: `--config=tsa` (.bazelrc) builds with clang for -Wthread-safety, which
gcc does not have. Bazel 4.2.3 autodetects its one C++ toolchain
(@local_config_cc) from $CC at fetch time, so switching CC with --repo_env
would re-fetch it and throw the gcc configuration away at every switch
between `bazel test` and `bazel build --config=tsa`. Instead this repository
runs the same autodetection (@bazel_tools' cc_autoconf_impl) with the
compiler overridden to clang, so both toolchains live side by side and the
tsa config only points --crosstool_top at this one.
"""

load("@bazel_tools//tools/cpp:cc_configure.bzl", "cc_autoconf_impl")

def _clang_cc_autoconf_impl(repository_ctx):
    clang = repository_ctx.which(repository_ctx.attr.compiler)
    if clang == None:
        fail("clang toolchain: '%s' not found on PATH; run scripts/bootstrap.sh" %
             repository_ctx.attr.compiler)
    cc_autoconf_impl(repository_ctx, overriden_tools = {"gcc": str(clang)})

clang_cc_autoconf = repository_rule(
    implementation = _clang_cc_autoconf_impl,
    attrs = {"compiler": attr.string(default = "clang")},
    environ = ["PATH"],
    configure = True,
    local = True,
)
