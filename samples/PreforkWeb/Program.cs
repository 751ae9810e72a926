using System.Globalization;
using System.Runtime.InteropServices;
using PreforkWeb;

// The seed's experiment in .NET: N Kestrel worker processes serving one port on 127.0.0.1
// (SO_REUSEPORT), each answering requests that read a 10-million-element dataset, which is either
// copied into every worker or built once by this process in shared memory and mapped by all.
//
//   dotnet PreforkWeb.dll [--mode copied|shared] [--workers N] [--port P] [--items N]
//   dotnet PreforkWeb.dll --measure [--out DIR] [--duration S] [--repeat R]   (N = 1, 2, 4, 8 × both modes, under wrk)
Options options;
try
{
    options = Options.Parse(args);
}
catch (ArgumentException e)
{
    await Console.Error.WriteLineAsync(e.Message);
    await Console.Error.WriteLineAsync(Options.Usage);
    return 2;
}

if (options.Measure)
{
    return await Measurement.RunAsync(options);
}

using var stop = new CancellationTokenSource();
// Ctrl+C and SIGTERM (what a service manager sends) both stop the workers and then this process.
using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
void Stop(PosixSignalContext context)
{
    context.Cancel = true;
    stop.Cancel();
}

static void Log(string line) => Console.WriteLine($"[prefork] {line}");

await using PreforkServer server = PreforkServer.Start(options.Mode, options.Workers, options.Port, options.Items, Log);
try
{
    await server.WaitUntilReadyAsync(TimeSpan.FromMinutes(2), stop.Token);
    Log(string.Create(CultureInfo.InvariantCulture,
        $"ready: http://127.0.0.1:{server.Port}/ mode {options.Mode.ToString().ToLowerInvariant()}, workers {string.Join(',', server.WorkerIds)}"));
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
}
Log("stopping");
await server.StopAsync(TimeSpan.FromSeconds(10));
Log("stopped");
return 0;
