namespace Multiprocessing.Tests.Pool;

public class SmokeTests
{
    [Fact]
    public async Task MapAsync_Squares_ReturnsInOrder()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 });
        int[] squares = await pool.MapAsync(Square, Enumerable.Range(0, 1000));
        Assert.Equal(Enumerable.Range(0, 1000).Select(x => x * x), squares);
        Assert.Equal(49, await pool.SubmitAsync(Square, 7));
    }

    private static int Square(int x) => x * x;
}
