namespace Multiprocessing.Tests.Hosting;

/// <summary>Worker methods for the hosting tests.</summary>
internal static class HostingTasks
{
    /// <summary>Leaves a marker that it started, works a little, and returns: still running when the host begins to stop.</summary>
    public static int SquareAfterMarker((string Marker, int Value) a)
    {
        File.WriteAllText(a.Marker, "started");
        Thread.Sleep(500);
        return a.Value * a.Value;
    }

    public static string ReadEnvironment(string name) => Environment.GetEnvironmentVariable(name) ?? "(unset)";
}
