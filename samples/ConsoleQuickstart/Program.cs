// The 30-second tour of Multiprocessing for .NET. Run it with:
//     dotnet run --project samples/ConsoleQuickstart
//
// A task is a static method (or a lambda that captures nothing) plus one argument. The method
// travels to a worker process by name; the argument and the result are serialised. No Main guard,
// no worker entry point: workers load this assembly and call the method, never this file's code.

using Multiprocessing;
using Multiprocessing.Samples.Quickstart;

Console.WriteLine($"This process is {Environment.ProcessId}.");

// Two worker processes. (The default is one per processor.) Disposing the pool stops them.
await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 });

// MapAsync: every item through a static method, results in input order (Python's Pool.map).
int[] squares = await pool.MapAsync(Tasks.Square, Enumerable.Range(1, 10));
Console.WriteLine($"MapAsync        Square(1..10)          = [{string.Join(", ", squares)}]");

// Map: the blocking twin, for code that is not async.
int[] lengths = pool.Map(Tasks.Length, ["process", "pool", "for", ".NET"]);
Console.WriteLine($"Map             Length(words)          = [{string.Join(", ", lengths)}]");

// SubmitAsync: one call, one result (Python's apply_async / executor.submit).
long factorial = await pool.SubmitAsync(Tasks.Factorial, 20);
int workerId = await pool.SubmitAsync(Tasks.ProcessId);
Console.WriteLine($"SubmitAsync     Factorial(20)          = {factorial:N0}; ProcessId() ran in process {workerId}");

// MapStreamAsync with Ordered = false: results as they finish (imap_unordered), from a lazy input
// that is read a bounded distance ahead, so it could be endless. Later items sleep less here,
// so they overtake earlier ones.
var unordered = new MapOptions { Ordered = false, ChunkSize = 1 };
var finished = new List<int>();
await foreach (int n in pool.MapStreamAsync(Tasks.SleepThenEcho, Tasks.Countdown(6), unordered))
{
    finished.Add(n);
}
Console.WriteLine($"MapStreamAsync  unordered, lazy input  = [{string.Join(", ", finished)}] (input order was 1..6)");

// Records (and other plain types) travel through System.Text.Json; primitives, strings and
// unmanaged structs take a faster binary path.
Order[] orders = [new("Ada", 12.50m, 3), new("Linus", 4.00m, 10), new("Grace", 99.99m, 1)];
Invoice[] invoices = await pool.MapAsync(Tasks.Bill, orders);
Console.WriteLine($"records         Bill(orders)           = {string.Join("; ", invoices.Select(i => $"{i.Customer} owes {i.Total:0.00}"))}");

// An async method is awaited in the worker.
string[] shouted = await pool.MapAsync(Tasks.ShoutAsync, ["hello", "workers"]);
Console.WriteLine($"async method    ShoutAsync(words)      = [{string.Join(", ", shouted)}]");

// A void method: the call completes when every item has run. What workers write to the console
// is forwarded here, each line tagged with the worker that wrote it.
Console.WriteLine("void method     Greet(names) prints from the workers:");
await pool.MapAsync(Tasks.Greet, ["Ada", "Linus"]);

// A lambda that captures nothing works like a static method. (Writing it as `static x => …`
// makes the compiler check that it captures nothing.)
int[] cubes = await pool.MapAsync(x => x * x * x, Enumerable.Range(1, 5));
Console.WriteLine($"lambda          x => x * x * x         = [{string.Join(", ", cubes)}]");

// A lambda that captures a variable is refused before anything is sent: the worker would not
// see the variable. The message says what was captured and what to do instead.
int factor = 3;
try
{
    await pool.MapAsync(x => x * factor, Enumerable.Range(1, 5));
}
catch (ArgumentException e)
{
    Console.WriteLine($"capturing       x => x * factor        rejected: {e.Message}");
}
// What the message suggests: pass the value with the item.
int[] tripled = await pool.MapAsync(Tasks.Multiply, Enumerable.Range(1, 5).Select(x => (x, factor)));
Console.WriteLine($"instead         Multiply((x, factor))  = [{string.Join(", ", tripled)}]");

// WorkerProcess: one method in one new process (Python's multiprocessing.Process).
using WorkerProcess<long> child = WorkerProcess.Start(Tasks.SumOfSquares, 1_000);
await child.WaitForExitAsync();
Console.WriteLine($"WorkerProcess   SumOfSquares(1000)     = {await child.Result:N0} (process {child.Id}, exit code {child.ExitCode})");

Console.WriteLine("Done.");

namespace Multiprocessing.Samples.Quickstart
{
    /// <summary>An order line; a record, so it travels to the workers as JSON.</summary>
    internal sealed record Order(string Customer, decimal Price, int Quantity);

    /// <summary>What a worker sends back for an <see cref="Order"/>.</summary>
    internal sealed record Invoice(string Customer, decimal Total);

    /// <summary>The methods the tour runs in worker processes. All static: that is what crosses a process boundary.</summary>
    internal static class Tasks
    {
        public static int Square(int x) => x * x;

        public static int Length(string word) => word.Length;

        public static long Factorial(int n)
        {
            long result = 1;
            for (int i = 2; i <= n; i++)
            {
                result *= i;
            }
            return result;
        }

        public static int ProcessId() => Environment.ProcessId;

        /// <summary>A lazy input: items are produced only as the pool asks for them.</summary>
        public static IEnumerable<int> Countdown(int count)
        {
            for (int i = 1; i <= count; i++)
            {
                yield return i;
            }
        }

        public static int SleepThenEcho(int n)
        {
            Thread.Sleep((7 - n) * 60);
            return n;
        }

        public static Invoice Bill(Order order) => new(order.Customer, order.Price * order.Quantity);

        public static async Task<string> ShoutAsync(string word)
        {
            await Task.Delay(10);
            return word.ToUpperInvariant() + "!";
        }

        public static void Greet(string name) => Console.WriteLine($"hello, {name}, from worker process {Environment.ProcessId}");

        public static int Multiply((int Value, int Factor) item) => item.Value * item.Factor;

        public static long SumOfSquares(int n)
        {
            long sum = 0;
            for (long i = 1; i <= n; i++)
            {
                sum += i * i;
            }
            return sum;
        }
    }
}
