// The package check: what a user does first with the installed packages. Exit code 0 when every
// check holds, 1 otherwise; each line says what was checked.
using System.Reflection;
using System.Runtime.Versioning;
using Microsoft.Extensions.DependencyInjection;
using Multiprocessing;

// The library is Linux-only and says so ([SupportedOSPlatform("linux")]): a caller either guards the
// calls (this check) or is marked Linux-only itself (Checks); without either the calls are warning
// CA1416, an error in this project.
if (!OperatingSystem.IsLinux())
{
    Console.Error.WriteLine("package check: Multiprocessing runs on Linux only.");
    return 2;
}
return await Checks.RunAsync();

[SupportedOSPlatform("linux")]
internal static class Checks
{
    private static int s_failures;

    public static async Task<int> RunAsync()
    {
        Assembly library = typeof(ProcessPool).Assembly;
        string version = library.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?";
        Console.WriteLine($"package check: Multiprocessing {version} from {library.Location}");

        // The worker host comes as a file next to the app (the package's buildTransitive targets), not as
        // an assembly the app compiles against or lists among its dependencies.
        string host = Path.Combine(AppContext.BaseDirectory, "Multiprocessing.WorkerHost.dll");
        Check(File.Exists(host), $"worker host copied next to the app ({host})");
        string deps = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "PackageSmoke.deps.json"));
        Check(!deps.Contains("Multiprocessing.WorkerHost", StringComparison.Ordinal), "worker host is not a reference of the app (absent from PackageSmoke.deps.json)");

        await using (var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 }))
        {
            const int Count = 100_000;
            long[] squares = await pool.MapAsync(Square, Enumerable.Range(0, Count));
            long sum = squares.Sum();
            long expected = Enumerable.Range(0, Count).Sum(i => (long)i * i);
            Check(squares.Length == Count && sum == expected, $"pool.MapAsync(Square, 0..{Count - 1}): {squares.Length} results, sum {sum:N0} (expected {expected:N0})");

            int workerPid = await pool.SubmitAsync(ProcessId, 0);
            Check(workerPid != Environment.ProcessId && workerPid > 0, $"pool.SubmitAsync ran in worker process {workerPid}, not this process {Environment.ProcessId}");
        }

        // The hosting package loads and registers the pool (no host is started here).
        var services = new ServiceCollection().AddProcessPool(settings => settings.Workers = 1);
        Check(services.Any(d => d.ServiceType == typeof(ProcessPool)), "Multiprocessing.Hosting: AddProcessPool registers ProcessPool");

        try
        {
            await ClusterCheck.RunAsync();
        }
        catch (Exception e)
        {
            Check(false, $"Multiprocessing.Cluster: {e.GetType().Name}: {e.Message}");
        }

        Console.WriteLine(s_failures == 0 ? "package check: passed" : $"package check: {s_failures} check(s) failed");
        return s_failures == 0 ? 0 : 1;
    }

    public static void Check(bool ok, string what)
    {
        Console.WriteLine($"package check: {(ok ? "ok  " : "FAIL")} {what}");
        s_failures += ok ? 0 : 1;
    }

    private static long Square(int x) => (long)x * x;

    private static int ProcessId(int _) => Environment.ProcessId;
}
