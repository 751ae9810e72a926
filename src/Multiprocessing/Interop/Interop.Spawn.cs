using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Multiprocessing.Interop;

/// <summary>
/// Starting child processes with <c>posix_spawn</c> and watching them end with <c>waitid</c>.
/// </summary>
/// <remarks>
/// Workers are started here rather than through <see cref="System.Diagnostics.Process"/>, whose
/// first use costs a fresh parent 15 – 20 ms of CPU (its SIGCHLD machinery, stream wrappers and
/// console set-up) right where a new pool's first worker waits to be launched; this path costs
/// a few. The children are ours alone to reap: the runtime's SIGCHLD handler only reaps the
/// processes <see cref="System.Diagnostics.Process"/> started.
/// </remarks>
internal static unsafe partial class Libc
{
    private const int SIGPIPE = 13;
    private const short POSIX_SPAWN_SETSIGDEF = 0x04;
    private const short POSIX_SPAWN_SETSIGMASK = 0x08;
    private const int P_PID = 1;
    private const int WNOHANG = 1;
    private const int WEXITED = 4;
    private const int WNOWAIT = 0x01000000;
    private const int CLD_EXITED = 1;
    private const int CLD_KILLED = 2;
    private const int CLD_DUMPED = 3;
    private const int ECHILD = 10;

    // glibc's posix_spawn_file_actions_t is 80 bytes, posix_spawnattr_t 336 and sigset_t 128 on
    // 64-bit Linux; the buffers are larger so that no C library's layout can overrun them.
    private const int OpaqueBufferSize = 1024;

    [LibraryImport(LibraryName, EntryPoint = "pipe2", SetLastError = true)]
    private static partial int Pipe2(int* fds, int flags);

    [LibraryImport(LibraryName, EntryPoint = "posix_spawn_file_actions_init")]
    private static partial int FileActionsInit(void* actions);

    [LibraryImport(LibraryName, EntryPoint = "posix_spawn_file_actions_destroy")]
    private static partial int FileActionsDestroy(void* actions);

    [LibraryImport(LibraryName, EntryPoint = "posix_spawn_file_actions_addopen")]
    private static partial int FileActionsAddOpen(void* actions, int fd, byte* path, int flags, uint mode);

    [LibraryImport(LibraryName, EntryPoint = "posix_spawn_file_actions_adddup2")]
    private static partial int FileActionsAddDup2(void* actions, int fd, int newFd);

    [LibraryImport(LibraryName, EntryPoint = "posix_spawnattr_init")]
    private static partial int SpawnAttrInit(void* attributes);

    [LibraryImport(LibraryName, EntryPoint = "posix_spawnattr_destroy")]
    private static partial int SpawnAttrDestroy(void* attributes);

    [LibraryImport(LibraryName, EntryPoint = "posix_spawnattr_setflags")]
    private static partial int SpawnAttrSetFlags(void* attributes, short flags);

    [LibraryImport(LibraryName, EntryPoint = "posix_spawnattr_setsigmask")]
    private static partial int SpawnAttrSetSigMask(void* attributes, void* mask);

    [LibraryImport(LibraryName, EntryPoint = "posix_spawnattr_setsigdefault")]
    private static partial int SpawnAttrSetSigDefault(void* attributes, void* signals);

    [LibraryImport(LibraryName, EntryPoint = "sigemptyset")]
    private static partial int SigEmptySet(void* set);

    [LibraryImport(LibraryName, EntryPoint = "sigaddset")]
    private static partial int SigAddSet(void* set, int signal);

    [LibraryImport(LibraryName, EntryPoint = "posix_spawn")]
    private static partial int PosixSpawn(int* pid, byte* path, void* actions, void* attributes, byte** argv, byte** envp);

    [LibraryImport(LibraryName, EntryPoint = "posix_spawnp")]
    private static partial int PosixSpawnSearchingPath(int* pid, byte* file, void* actions, void* attributes, byte** argv, byte** envp);

    [LibraryImport(LibraryName, EntryPoint = "waitid", SetLastError = true)]
    private static partial int WaitId(int idType, int id, byte* info, int options);

    /// <summary>A started child: its process id and the read ends of its stdout and stderr.</summary>
    public readonly record struct SpawnedChild(int ProcessId, SafeFileHandle StandardOutput, SafeFileHandle StandardError);

    /// <summary>
    /// Starts <paramref name="file"/> (searched on PATH unless it holds a '/') with
    /// <paramref name="arguments"/> (the first is the program's name) and exactly
    /// <paramref name="environment"/> ("NAME=value" entries). Its stdin is /dev/null (a child that
    /// reads the console sees end of input instead of stealing the parent's); its stdout and
    /// stderr are pipes whose read ends are returned. Signals: an empty mask, and SIGPIPE back to
    /// its default (the runtime ignores it in this process; exec keeps ignored signals ignored).
    /// The child is this caller's to reap (<see cref="WaitForChildExit"/>, <see cref="ReapChild"/>).
    /// </summary>
    /// <exception cref="IOException">The process could not be started (the errno is in the message).</exception>
    public static SpawnedChild Spawn(string file, IReadOnlyList<string> arguments, IReadOnlyList<string> environment)
    {
        int* output = stackalloc int[2] { -1, -1 };
        int* error = stackalloc int[2] { -1, -1 };
        byte* actions = (byte*)NativeMemory.AllocZeroed(OpaqueBufferSize);
        byte* attributes = (byte*)NativeMemory.AllocZeroed(OpaqueBufferSize);
        byte* signals = (byte*)NativeMemory.AllocZeroed(OpaqueBufferSize);
        byte** paths = null;
        byte** argv = null;
        byte** envp = null;
        bool actionsReady = false, attributesReady = false;
        try
        {
            if (Pipe2(output, O_CLOEXEC) != 0 || Pipe2(error, O_CLOEXEC) != 0)
            {
                throw ErrorFor("pipe2", "a worker's output");
            }
            // Every string the child needs, UTF-8 and NUL-terminated.
            paths = NullTerminatedUtf8(["/dev/null", file]);
            argv = NullTerminatedUtf8(arguments);
            envp = NullTerminatedUtf8(environment);
            byte* devNull = paths[0];
            byte* path = paths[1];

            Check(FileActionsInit(actions), "posix_spawn_file_actions_init");
            actionsReady = true;
            Check(FileActionsAddOpen(actions, 0, devNull, O_RDONLY, 0), "posix_spawn_file_actions_addopen");
            Check(FileActionsAddDup2(actions, output[1], 1), "posix_spawn_file_actions_adddup2");
            Check(FileActionsAddDup2(actions, error[1], 2), "posix_spawn_file_actions_adddup2");
            Check(SpawnAttrInit(attributes), "posix_spawnattr_init");
            attributesReady = true;
            Check(SigEmptySet(signals), "sigemptyset");
            Check(SpawnAttrSetSigMask(attributes, signals), "posix_spawnattr_setsigmask");
            Check(SigAddSet(signals, SIGPIPE), "sigaddset");
            Check(SpawnAttrSetSigDefault(attributes, signals), "posix_spawnattr_setsigdefault");
            Check(SpawnAttrSetFlags(attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF), "posix_spawnattr_setflags");

            int pid;
            // posix_spawn returns the error number rather than setting errno.
            int failed = file.Contains('/')
                ? PosixSpawn(&pid, path, actions, attributes, argv, envp)
                : PosixSpawnSearchingPath(&pid, path, actions, attributes, argv, envp);
            if (failed != 0)
            {
                Marshal.SetLastPInvokeError(failed);
                throw ErrorFor("posix_spawn", file);
            }
            var spawned = new SpawnedChild(pid, new SafeFileHandle(output[0], ownsHandle: true), new SafeFileHandle(error[0], ownsHandle: true));
            output[0] = error[0] = -1;
            return spawned;
        }
        finally
        {
            // The write ends belong to the child now (or to nobody, on failure).
            for (int i = 0; i < 2; i++)
            {
                if (output[i] >= 0)
                {
                    CloseDescriptor(output[i]);
                }
                if (error[i] >= 0)
                {
                    CloseDescriptor(error[i]);
                }
            }
            if (actionsReady)
            {
                FileActionsDestroy(actions);
            }
            if (attributesReady)
            {
                SpawnAttrDestroy(attributes);
            }
            NativeMemory.Free(actions);
            NativeMemory.Free(attributes);
            NativeMemory.Free(signals);
            NativeMemory.Free(paths);
            NativeMemory.Free(argv);
            NativeMemory.Free(envp);
        }

        static void Check(int result, string call)
        {
            if (result != 0)
            {
                Marshal.SetLastPInvokeError(result);
                throw ErrorFor(call);
            }
        }
    }

    /// <summary>
    /// Waits for child <paramref name="pid"/> to end (blocking when <paramref name="block"/>) without
    /// reaping it: until <see cref="ReapChild"/>, its pid cannot be given to another process, so a
    /// signal sent to it meanwhile cannot reach a stranger.
    /// </summary>
    /// <param name="pid">A child of this process that has not been reaped.</param>
    /// <param name="block">False: return at once when the child still runs.</param>
    /// <param name="exitCode">Its exit code, or 128 + the signal that ended it; null when the child was already reaped elsewhere (its status is gone).</param>
    /// <returns>Whether it has ended.</returns>
    public static bool WaitForChildExit(int pid, bool block, out int? exitCode)
    {
        // siginfo_t: si_signo, si_errno, si_code (ints at 0, 4, 8), then for SIGCHLD si_pid (16),
        // si_uid (20) and si_status (24) on 64-bit Linux. 128 bytes in all.
        byte* info = stackalloc byte[128];
        while (true)
        {
            new Span<byte>(info, 128).Clear();
            if (WaitId(P_PID, pid, info, WEXITED | WNOWAIT | (block ? 0 : WNOHANG)) == 0)
            {
                int childPid = *(int*)(info + 16);
                if (childPid == 0)
                {
                    exitCode = null;
                    return false;
                }
                int code = *(int*)(info + 8);
                int status = *(int*)(info + 24);
                exitCode = code switch
                {
                    CLD_EXITED => status,
                    CLD_KILLED or CLD_DUMPED => 128 + status,
                    _ => null,
                };
                return true;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Errno.EINTR)
            {
                continue;
            }
            if (errno == ECHILD)
            {
                // Reaped by someone else: SIGCHLD ignored by whoever started this process, say.
                exitCode = null;
                return true;
            }
            throw ErrorFor("waitid", $"process {pid}");
        }
    }

    /// <summary>Reaps child <paramref name="pid"/>, which has ended (<see cref="WaitForChildExit"/>): its pid is free for reuse after this.</summary>
    public static void ReapChild(int pid)
    {
        byte* info = stackalloc byte[128];
        while (WaitId(P_PID, pid, info, WEXITED | WNOHANG) != 0 && Marshal.GetLastPInvokeError() == Errno.EINTR)
        {
        }
    }
}
