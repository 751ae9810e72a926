using System.Runtime.InteropServices;
using Multiprocessing.Interop;

namespace Multiprocessing.Tests.Interop;

public sealed class NativeHeapTrimTests
{
    private const int Blocks = 256;
    private const int BlockSize = 64 << 10;

    [Fact]
    public async Task TryTrimNativeHeap_FreedBlocksBelowALiveOne_TheirPagesLeaveTheProcess()
    {
        // In a worker of its own: a test process's other tests allocate while this one measures.
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });
        long[] figures = await pool.SubmitAsync(FreeThenTrim, 0).WaitAsync(Bounds.Unexpected);

        Assert.Equal(1, figures[0]);
        long given = figures[1] - figures[2];
        // 16 MiB were freed into the C library's arena and kept there; trimming gives most of it back.
        Assert.True(given >= 8 << 20, $"anonymous memory before the trim {figures[1]:N0} bytes, after {figures[2]:N0}: {given:N0} given back, expected at least 8 MiB");
    }

    /// <summary>[trimmed (1 or 0), anonymous PSS before the trim, after it].</summary>
    public static unsafe long[] FreeThenTrim(int unused)
    {
        var blocks = new nint[Blocks];
        nint top = 0;
        try
        {
            // Blocks below glibc's mmap threshold (128 KiB) come from an arena, which keeps their
            // pages when they are freed; each is written so that its pages are resident.
            for (int i = 0; i < Blocks; i++)
            {
                blocks[i] = Marshal.AllocHGlobal(BlockSize);
                new Span<byte>((void*)blocks[i], BlockSize).Fill(1);
            }
            // A live block above them, so that free() cannot give them back by shrinking the arena's top.
            top = Marshal.AllocHGlobal(BlockSize);
            new Span<byte>((void*)top, BlockSize).Fill(1);
            for (int i = 0; i < Blocks; i++)
            {
                Marshal.FreeHGlobal(blocks[i]);
                blocks[i] = 0;
            }
            long before = ProcessMemory.ReadCurrent().PssAnon ?? ProcessMemory.ReadCurrent().Rss;
            bool trimmed = Libc.TryTrimNativeHeap();
            long after = ProcessMemory.ReadCurrent().PssAnon ?? ProcessMemory.ReadCurrent().Rss;
            return [trimmed ? 1 : 0, before, after];
        }
        finally
        {
            foreach (nint block in blocks.Where(b => b != 0))
            {
                Marshal.FreeHGlobal(block);
            }
            if (top != 0)
            {
                Marshal.FreeHGlobal(top);
            }
        }
    }
}
