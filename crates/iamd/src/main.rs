// mimalloc: the request path allocates many small short-lived buffers from two threads; glibc's
// malloc spent ~15% of GetCallerIdentity's CPU in locks and consolidation, mimalloc a fraction of it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    // From the mimalloc library that the `mimalloc` crate links.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    fn prctl(option: std::ffi::c_int, arg2: std::ffi::c_ulong, arg3: std::ffi::c_ulong, arg4: std::ffi::c_ulong, arg5: std::ffi::c_ulong) -> std::ffi::c_int;
}
/// PR_SET_THP_DISABLE: transparent huge pages turn each touched allocator page into 2 MiB of RSS.
const PR_SET_THP_DISABLE: std::ffi::c_int = 41;
/// `mi_option_arena_eager_commit` in mimalloc.h: committing whole arenas up front doubles idle memory.
const MI_OPTION_ARENA_EAGER_COMMIT: std::ffi::c_int = 4;

fn main() -> std::process::ExitCode {
    // SAFETY: sets a plain integer option; mimalloc allows this at any time.
    unsafe {
        mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    iamd::cli::main()
}
