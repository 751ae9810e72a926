using System.Runtime.CompilerServices;

namespace Multiprocessing.Cli.Jobs;

/// <summary>A half-open range of integers, [<see cref="Start"/>, <see cref="End"/>).</summary>
/// <param name="Start">First number in the range.</param>
/// <param name="End">One past the last number in the range.</param>
/// <remarks>An unmanaged struct, so it crosses to a worker on the library's binary path, not through JSON.</remarks>
public readonly record struct NumberRange(int Start, int End);

/// <summary>
/// The CPU-bound job of <c>mp demo</c>: counting primes by trial division. Deliberately naive:
/// it does no I/O and allocates nothing, so its speed-up across worker processes measures the
/// pool, not the memory system.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="Count"/> is a static method so that a <see cref="ProcessPool"/> can run it: a task
/// travels to a worker as assembly + type + method name, and the worker calls its own copy.
/// </para>
/// <para>
/// Both methods are compiled fully optimised on first call. Otherwise each fresh worker would
/// start in tiered compilation's quick first-tier code and on-stack replacement, and run this
/// short job about a quarter slower than a warmed-up serial run: the table would measure the
/// JIT's warm-up, not the pool.
/// </para>
/// </remarks>
public static class PrimeCounting
{
    /// <summary>Counts the primes in <paramref name="range"/>.</summary>
    /// <param name="range">The numbers to test; negative numbers are not prime.</param>
    /// <returns>How many of them are prime.</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Count(NumberRange range)
    {
        int count = 0;
        for (int n = Math.Max(range.Start, 0); n < range.End; n++)
        {
            if (IsPrime(n))
            {
                count++;
            }
        }
        return count;
    }

    /// <summary>Whether <paramref name="n"/> is prime, by trial division with odd divisors up to its square root.</summary>
    /// <param name="n">The number.</param>
    /// <returns>True for a prime.</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool IsPrime(int n)
    {
        if (n < 4)
        {
            return n >= 2;
        }
        if ((n & 1) == 0)
        {
            return false;
        }
        // Computed once: squaring the divisor in the loop condition would overflow int near int.MaxValue.
        int limit = (int)Math.Sqrt(n);
        for (int divisor = 3; divisor <= limit; divisor += 2)
        {
            if (n % divisor == 0)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Runs the job once on a few numbers. As a pool's <see cref="ProcessPoolOptions.Initializer"/>
    /// it makes every worker load this assembly and compile <see cref="Count"/> before the pool
    /// reports ready, so a timed run measures the work and not each worker's first-call set-up
    /// (tens of milliseconds), which the in-process baseline has already paid.
    /// </summary>
    public static void WarmUp() => _ = Count(new NumberRange(0, 1_000));

    /// <summary>Splits [0, <paramref name="size"/>) into <paramref name="parts"/> ranges of (nearly) equal length.</summary>
    /// <param name="size">One past the largest number to cover.</param>
    /// <param name="parts">How many ranges; at most <paramref name="size"/> are returned, none of them empty.</param>
    /// <returns>Consecutive ranges that cover [0, <paramref name="size"/>) exactly.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> or <paramref name="parts"/> is less than 1.</exception>
    public static NumberRange[] Split(int size, int parts)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(parts, 1);
        parts = Math.Min(parts, size);
        var ranges = new NumberRange[parts];
        for (int i = 0; i < parts; i++)
        {
            ranges[i] = new NumberRange((int)((long)size * i / parts), (int)((long)size * (i + 1) / parts));
        }
        return ranges;
    }
}
