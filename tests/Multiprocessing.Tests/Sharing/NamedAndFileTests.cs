namespace Multiprocessing.Tests.Sharing;

public sealed class NamedAndFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mp-shared-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static string UniqueName() => $"test-{Guid.NewGuid():N}";

    [Fact]
    public async Task Named_AnotherProcessOpensItByName()
    {
        string name = UniqueName();
        using var array = SharedArray<int>.CreateFrom([1, 2, 3, 4], name);
        Assert.Equal(name, array.Name);
        // The child gets only the name (a string), not the array: it finds the memory on its own, as an unrelated program would.
        using var child = WorkerProcess.Start(SharedTasks.SumNamed, name);
        Assert.Equal(10L, await child.Result.WaitAsync(Bounds.Unexpected));
    }

    [Fact]
    public void Named_OpenSeesTheSameMemory()
    {
        string name = UniqueName();
        using var created = SharedValue<long>.Create(1, name);
        using var opened = SharedValue<long>.Open(name);
        Interlocked.Add(ref opened.Value, 41);
        Assert.Equal(42L, created.Value);
    }

    [Fact]
    public void Memory_IsOwnerOnly()
    {
        using var array = SharedArray<int>.Create(4);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(array.Segment.Path));
    }

    [Fact]
    public void Named_TakenNameIsRefused()
    {
        string name = UniqueName();
        using var first = SharedMemory.Create(16, name);
        SharedMemoryException error = Assert.Throws<SharedMemoryException>(() => SharedMemory.Create(16, name));
        Assert.Contains("already exists", error.Message);
        Assert.Contains($"process {Environment.ProcessId}", error.Message);
    }

    [SkippableFact]
    public async Task Named_NameTakenByAnotherUser_IsReportedAsSuch()
    {
        // Another local user binds this user's socket name for the name first (the abstract
        // namespace has no permissions). Needs root, to run that user's process with setpriv.
        string name = UniqueName();
        using var squatter = AnotherUser.Start(
            "import socket, sys\n" +
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n" +
            $"s.bind(b'\\0{Multiprocessing.Sharing.NameRegistration.SocketName(name)}')\n" +
            "s.listen(8)\n" +
            "print('bound', flush=True)\n" +
            "sys.stdin.read()\n");
        Assert.Equal("bound", await squatter.ReadLineAsync());

        SharedMemoryException claim = Assert.Throws<SharedMemoryException>(() => SharedMemory.Create(16, name));
        Assert.Contains("another user (uid 65534)", claim.Message);
        Assert.Contains($"process {squatter.Pid}", claim.Message);
        Assert.DoesNotContain("already exists", claim.Message);
        SharedMemoryException open = Assert.Throws<SharedMemoryException>(() => SharedMemory.Open(name));
        Assert.Contains("another user (uid 65534)", open.Message);
    }

    [SkippableFact]
    public async Task Named_ProcessOfAnotherUser_IsNotAnsweredWithTheDescriptor()
    {
        string name = UniqueName();
        using var secret = SharedMemory.Create(16, name);
        using var reader = AnotherUser.Start(
            "import socket\n" +
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n" +
            $"s.connect(b'\\0{Multiprocessing.Sharing.NameRegistration.SocketName(name)}')\n" +
            "s.settimeout(60)\n" +
            "data = b''\n" +
            "while True:\n" +
            "    chunk = s.recv(4096)\n" +
            "    if not chunk: break\n" +
            "    data += chunk\n" +
            "print(len(data), flush=True)\n");
        // The creator closes the connection without a word: zero bytes, where a process of this user gets the descriptor.
        Assert.Equal("0", await reader.ReadLineAsync());
        using var same = SharedMemory.Open(name);
        Assert.Equal(16L, same.Size);
    }

    [Fact]
    public void Named_UnknownOrReleasedNameIsAClearError()
    {
        string name = UniqueName();
        Assert.Contains("No shared segment named", Assert.Throws<SharedMemoryException>(() => SharedArray<int>.Open(name)).Message);
        var array = SharedArray<int>.Create(4, name);
        array.Dispose();
        Assert.Throws<SharedMemoryException>(() => SharedArray<int>.Open(name));
        using var again = SharedArray<int>.Create(4, name); // the name is free again
    }

    [Fact]
    public void Named_OtherElementTypeIsRefused()
    {
        string name = UniqueName();
        using var ints = SharedArray<int>.Create(4, name);
        SharedMemoryException error = Assert.Throws<SharedMemoryException>(() => SharedArray<double>.Open(name));
        Assert.Contains("SharedArray<System.Int32>", error.Message);
        using var raw = SharedMemory.Open(name, readOnly: true);
        Assert.Equal(16L, raw.Size);
    }

    [Fact]
    public void Named_InvalidNamesAreRejected()
    {
        Assert.Throws<ArgumentException>(() => SharedMemory.Create(16, "a/b"));
        Assert.Throws<ArgumentException>(() => SharedMemory.Create(16, new string('x', 65)));
    }

    [Fact]
    public void File_CreateThenReopenReadOnly()
    {
        string path = Path.Combine(_directory, "table.bin");
        using (var table = SharedArray<long>.CreateFile(path, 1000))
        {
            Assert.Equal(path, table.FilePath);
            table[999] = 7;
        }
        Assert.Equal(8000L, new FileInfo(path).Length);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        using var ro = SharedArray<long>.OpenFile(path, readOnly: true);
        Assert.True(ro.IsReadOnly);
        Assert.Equal(1000L, ro.Length);
        Assert.Equal(7L, ro[999]);
        Assert.Throws<InvalidOperationException>(() => ro[0] = 1);
    }

    [Fact]
    public void File_ExistingFileIsNotOverwrittenUnlessAsked()
    {
        string path = Path.Combine(_directory, "exists.bin");
        File.WriteAllBytes(path, [1, 2, 3, 4]);
        Assert.ThrowsAny<IOException>(() => SharedArray<int>.CreateFile(path, 10));
        Assert.Equal(4L, new FileInfo(path).Length);
        using var replaced = SharedArray<int>.CreateFile(path, 10, overwrite: true);
        Assert.Equal(10L, replaced.Length);
    }

    [Fact]
    public void File_OverwriteRefusesASymbolicLink_AndLeavesItsTargetAlone()
    {
        // A link planted where the caller will create its file (as another user could in /tmp):
        // following it would truncate and overwrite whatever it points at.
        string victim = Path.Combine(_directory, "victim.txt");
        File.WriteAllText(victim, "precious");
        string path = Path.Combine(_directory, "planted.bin");
        File.CreateSymbolicLink(path, victim);

        SharedMemoryException error = Assert.Throws<SharedMemoryException>(() => SharedArray<long>.CreateFile(path, 1000, overwrite: true));
        Assert.Contains(path, error.Message);
        Assert.Contains("symbolic link", error.Message);
        Assert.Equal("precious", File.ReadAllText(victim));
        Assert.Equal(victim, new FileInfo(path).LinkTarget);

        // Without overwrite the link is refused too, and a dangling one creates nothing at its target.
        Assert.Contains("symbolic link", Assert.Throws<SharedMemoryException>(() => SharedMemory.CreateFile(path, 16)).Message);
        string dangling = Path.Combine(_directory, "dangling.bin");
        string absent = Path.Combine(_directory, "created-through-the-link.bin");
        File.CreateSymbolicLink(dangling, absent);
        Assert.Contains("symbolic link", Assert.Throws<SharedMemoryException>(() => SharedArray<int>.CreateFile(dangling, 4, overwrite: true)).Message);
        Assert.False(File.Exists(absent));
        Assert.Equal("precious", File.ReadAllText(victim));
    }

    [Fact]
    public void File_LengthNotAMultipleOfTheElementIsAClearError()
    {
        string path = Path.Combine(_directory, "odd.bin");
        File.WriteAllBytes(path, new byte[10]);
        SharedMemoryException error = Assert.Throws<SharedMemoryException>(() => SharedArray<long>.OpenFile(path));
        Assert.Contains("not a whole number of", error.Message);
        Assert.Throws<FileNotFoundException>(() => SharedArray<long>.OpenFile(Path.Combine(_directory, "missing.bin")));
    }

    [Fact]
    public async Task File_BackedArrayCrossesToATask()
    {
        string path = Path.Combine(_directory, "prices.bin");
        using var prices = SharedArray<double>.CreateFile(path, 1000);
        prices.AsSpan().Fill(0.5);
        using var child = WorkerProcess.Start(SharedTasks.SumAll, prices);
        Assert.Equal(500.0, await child.Result.WaitAsync(Bounds.Unexpected));
    }
}
