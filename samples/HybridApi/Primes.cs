using System.Runtime.CompilerServices;

namespace HybridApi;

/// <summary>
/// The CPU-bound work behind both endpoints: counting the primes below a bound by trial division.
/// Static, so that a <see cref="Multiprocessing.ProcessPool"/> can run it in a worker process.
/// </summary>
public static class Primes
{
    /// <summary>The largest bound the endpoints accept, so that one request cannot hold a core for minutes.</summary>
    public const int MaxBound = 20_000_000;

    /// <summary>Counts the primes below <paramref name="bound"/>.</summary>
    /// <param name="bound">Exclusive upper bound.</param>
    /// <param name="cancellationToken">
    /// Checked every few thousand numbers: when a client hangs up, the pool cancels the task and the
    /// worker returns promptly instead of being killed after the pool's cancellation grace period.
    /// </param>
    /// <returns>How many primes are below <paramref name="bound"/>.</returns>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int CountBelow(int bound, CancellationToken cancellationToken)
    {
        int count = bound > 2 ? 1 : 0;
        for (int n = 3; n < bound; n += 2)
        {
            if ((n & 0x3fff) == 1)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
            if (IsOddPrime(n))
            {
                count++;
            }
        }
        return count;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool IsOddPrime(int n)
    {
        for (int d = 3; d * d <= n; d += 2)
        {
            if (n % d == 0)
            {
                return false;
            }
        }
        return n > 1;
    }
}
