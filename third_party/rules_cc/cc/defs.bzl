"""Re-exports Bazel 4's native C++ rules under the rules_cc names.

Debian's bazel-rules-cc targets newer Bazel; this keeps BUILD files (ours and
@bazel_tools') written against rules_cc while building with the native rules.
"""

cc_binary = native.cc_binary
cc_import = native.cc_import
cc_library = native.cc_library
cc_proto_library = native.cc_proto_library
cc_test = native.cc_test
cc_toolchain = native.cc_toolchain
cc_toolchain_suite = native.cc_toolchain_suite
objc_library = native.objc_library
