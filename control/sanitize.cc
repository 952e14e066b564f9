// Linked into devipd, ipctl and the unit tests by -Dsanitize=true (meson.build): the
// sanitizers' built-in options, so that a sanitized program run by hand behaves as under the
// tests. The first report ends the program with SIGABRT (a test then sees the status as well
// as the report); leaks are checked at exit with the suppressions for EAL's exit paths.
// The environment's ASAN_OPTIONS, LSAN_OPTIONS and UBSAN_OPTIONS are applied over these.

extern "C" {

const char* __asan_default_options() {
    return "halt_on_error=1:abort_on_error=1:detect_leaks=1:print_summary=1";
}

const char* __lsan_default_options() { return "suppressions=" DEVIP_LSAN_SUPP; }

const char* __ubsan_default_options() {
    return "halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1";
}

}  // extern "C"
